/**
 * `npm run bench`, fourth part: optimizer steps per second through `sous serve` and the
 * `tinker` adapter on the model, data and batch size of examples/sft-arithmetic, with and
 * without 50 ms of latency added to every request, measured in one process.
 *
 * Two servers over one local backend (this process's TensorFlow.js engine) listen on
 * loopback: one answers at once, the other waits `--latency` ms before every answer (its
 * fault injection's latency; no failures). Each loop trains its own model, created from the
 * recipe's seed through the adapter, on the same batches:
 * - queued: forward/backward and the optimizer step are submitted before either is awaited,
 *   and the next step's pair is submitted before the previous one's results are read (one
 *   step ahead, as tinker-cookbook's `submit_ahead`);
 * - awaiting: each call's result is awaited before the next call is submitted.
 * The in-process local client runs the queued loop too, as the cost of the protocol itself.
 * A round times `--steps` steps of every loop in turns of `--turn`, the order rotating, so all
 * meet the same interference; the report gives medians over `--rounds` rounds. The goal:
 * queued at 50 ms keeps at least 90% of the no-latency rate.
 *
 * Options: `--steps N` (20), `--turn N` (5), `--warmup N` (3), `--rounds N` (3), `--latency MS` (50).
 */
import { parseArgs } from "node:util"
import { Effect, type Scope } from "effect"
import { makeLocalBackend } from "../src/adapters/local/local-backend.js"
import { makeTinkerBackend } from "../src/adapters/tinker/index.js"
import { kitchenLayer, recipeTokenizer } from "../src/kitchen/index.js"
import { adamParams, type Datum, type Pending, TrainingBackend, type TrainingClient } from "../src/ports/index.js"
import { loadRecipe, recipeModel, supervisedWorkflowConfig } from "../src/recipes/index.js"
import { loadChatData, renderChatData, RunKeys } from "../src/stages/index.js"
import { runWorkflow, sequence, stage, workflow } from "../src/workflows/index.js"
import { startServer } from "../src/server/index.js"
import { countOption, formatTable, median, runBench } from "./report.js"

const recipeFile = "examples/sft-arithmetic/recipe.yaml"
const goal = 0.9
const apiKey = "tml-sous-bench"

const readOptions = () => {
  const { values } = parseArgs({
    options: {
      steps: { type: "string", default: "20" },
      turn: { type: "string", default: "5" },
      warmup: { type: "string", default: "3" },
      rounds: { type: "string", default: "3" },
      latency: { type: "string", default: "50" }
    }
  })
  return {
    steps: countOption("steps", values.steps, 1),
    turn: countOption("turn", values.turn, 1),
    warmup: countOption("warmup", values.warmup, 0),
    rounds: countOption("rounds", values.rounds, 1),
    latency: countOption("latency", values.latency, 0)
  }
}

type Client = TrainingClient["Service"]
type StepPair = readonly [Pending<unknown, unknown>, Pending<unknown, unknown>]

/** A loop over one client that continues through `batches` where its last call stopped. */
interface Loop {
  readonly name: string
  readonly run: (steps: number) => Effect.Effect<void, unknown>
}

const makeLoop = (name: string, client: Client, batches: ReadonlyArray<ReadonlyArray<Datum>>, learningRate: number, queued: boolean): Loop => {
  const adam = adamParams({ learning_rate: learningRate })
  let next = 0
  const batch = () => batches[next++ % batches.length]!
  const submit = Effect.gen(function*() {
    const gradients = yield* client.forwardBackward(batch(), "cross_entropy")
    return [gradients, yield* client.optimStep(adam)] as StepPair
  })
  const await_ = ([gradients, update]: StepPair) => Effect.andThen(gradients.result, update.result)
  const run = (steps: number) =>
    queued
      // One step ahead: step i's pair goes out before step i-1's results are read.
      ? Effect.gen(function*() {
        let previous: StepPair | undefined
        for (let i = 0; i < steps; i++) {
          const current = yield* submit
          if (previous !== undefined) yield* await_(previous)
          previous = current
        }
        if (previous !== undefined) yield* await_(previous)
      })
      : Effect.gen(function*() {
        for (let i = 0; i < steps; i++) {
          yield* (yield* client.forwardBackward(batch(), "cross_entropy")).result
          yield* (yield* client.optimStep(adam)).result
        }
      })
  return { name, run }
}

const seconds = (effect: Effect.Effect<void, unknown>) =>
  Effect.gen(function*() {
    const startedAt = performance.now()
    yield* effect
    return (performance.now() - startedAt) / 1000
  })

const bench = (options: ReturnType<typeof readOptions>, runDir: string): Effect.Effect<void, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const recipe = yield* loadRecipe(recipeFile, ["backend.device=wasm"])
    if (recipe.kind !== "supervised") return yield* Effect.die(new Error(`the bench runs a supervised recipe, got ${recipe.kind}`))
    const config = supervisedWorkflowConfig(recipe)
    const tokenizer = yield* recipeTokenizer(recipe)

    // Untimed: read and render the chat data with the real stages, cut into the recipe's batches.
    const setup = yield* runWorkflow(workflow({
      name: "bench-setup",
      root: sequence(stage(loadChatData(config.data)), stage(renderChatData(config.render)))
    })).pipe(Effect.provide(kitchenLayer(recipe, { runDir }, tokenizer)))
    const data = setup.state[RunKeys.trainData.name] as ReadonlyArray<Datum>
    const size = config.batch.batchSize
    const batches = Array.from({ length: Math.floor(data.length / size) }, (_, i) => data.slice(i * size, (i + 1) * size))

    const local = yield* makeLocalBackend({ device: "wasm" })
    const serve = (latencyMs: number) =>
      startServer({ apiKey, ...(latencyMs > 0 ? { faults: { latencyMs } } : {}) }).pipe(Effect.provideService(TrainingBackend, local))
    const direct = yield* serve(0)
    const delayed = yield* serve(options.latency)
    const model = { ...recipeModel(recipe, tokenizer.vocabSize), seed: recipe.seed }
    const clientOf = (backend: TrainingBackend["Service"]) => backend.createTrainingClient(model)
    const viaServer = (url: string) => Effect.flatMap(makeTinkerBackend({ baseUrl: url, apiKey }), clientOf)

    const lr = recipe.optimizer.lr
    const ms = options.latency
    const loops: ReadonlyArray<Loop> = [
      makeLoop("in-process local client, queued", yield* clientOf(local), batches, lr, true),
      makeLoop("sous serve, no added latency, queued", yield* viaServer(direct.url), batches, lr, true),
      makeLoop(`sous serve, ${ms} ms latency, queued`, yield* viaServer(delayed.url), batches, lr, true),
      makeLoop(`sous serve, ${ms} ms latency, awaiting each call`, yield* viaServer(delayed.url), batches, lr, false),
      makeLoop("sous serve, no added latency, awaiting each call", yield* viaServer(direct.url), batches, lr, false)
    ]

    console.log([
      "sous bench: training through sous serve and the tinker adapter",
      `model: ${recipeFile} (${(yield* (yield* clientOf(local)).info).parameterCount.toLocaleString("en-US")} parameters), ` +
      `batch ${size}, ${batches.length} batches; servers on loopback over one wasm local backend`,
      `steps: ${options.warmup} warmup per loop, then rounds of ${options.steps} timed steps per loop in rotating turns of ${options.turn}, ${options.rounds} rounds`,
      ""
    ].join("\n"))

    for (const loop of loops) yield* loop.run(options.warmup)
    const rates: Array<Array<number>> = loops.map(() => [])
    for (let round = 0; round < options.rounds; round++) {
      const elapsed = loops.map(() => 0)
      for (let done = 0, turn = 0; done < options.steps; done += options.turn, turn++) {
        const steps = Math.min(options.turn, options.steps - done)
        for (let k = 0; k < loops.length; k++) {
          const index = (k + turn) % loops.length
          elapsed[index]! += yield* seconds(loops[index]!.run(steps))
        }
      }
      elapsed.forEach((time, index) => rates[index]!.push(options.steps / time))
    }

    const rate = (index: number) => median(rates[index]!)
    const ratio = median(rates[2]!.map((value, round) => value / rates[1]![round]!))
    console.log([
      formatTable([
        ["loop (steps/s, median of rounds)", ...Array.from({ length: options.rounds }, (_, r) => `round ${r + 1}`), "median"],
        ...loops.map((loop, index) => [loop.name, ...rates[index]!.map((value) => value.toFixed(2)), rate(index).toFixed(2)])
      ]),
      "",
      `queued at ${ms} ms / queued without latency (median of the rounds' ratios): ${ratio.toFixed(3)}; goal >= ${goal}: ${ratio >= goal ? "met" : "NOT met"}`,
      `awaiting at ${ms} ms / queued without latency: ${(rate(3) / rate(1)).toFixed(3)}; ` +
      `sous serve without latency / in-process: ${(rate(1) / rate(0)).toFixed(3)}`
    ].join("\n"))
  })

const options = readOptions()
await runBench("sous-bench-remote-", (dir) => bench(options, dir))
