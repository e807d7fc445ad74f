/**
 * `npm run bench`: optimizer steps per second of the sous training loop and of a
 * hand-written TensorFlow.js loop on the model, data and batch size of
 * examples/sft-arithmetic, measured in one process, and their ratio (the goal is ≥ 0.95).
 *
 * The sous loop is the workflow runner interpreting a loop of the real stages (next-batch,
 * train-step, log-metrics: the supervised loop with eval and checkpoints
 * off) against the local backend's TrainingClient, with the layers `sous run` builds
 * (JSONL metrics in a temporary run directory). The hand-written loop is a plain for-loop
 * over a second model from the same seed, the same batches in the same order and the same
 * learning rates: `tf.variableGrads` of a weighted cross-entropy over the adapter's
 * `transformerLogits`, then the adapter's
 * `adamWStep`. Both do the same math, which the bench checks by comparing their losses step
 * by step. Data loading, model setup and warmup steps are not timed.
 *
 * A round times `--steps` steps of each loop. On a shared 2-core machine other processes
 * come and go within seconds, so a round does not run one loop and then the other: it
 * takes turns of `--turn` steps, alternating which loop goes first, so that both meet the
 * same interference. The report gives the median of each column over `--rounds` rounds; the
 * ratio is the median of the rounds' ratios, since each compares two loops timed side by side.
 *
 * Options: `--device wasm|cpu` (default wasm), `--steps N` timed steps per loop and round
 * (40), `--turn N` steps per turn (5), `--warmup N` untimed steps first (5), `--rounds N`
 * (3). Run from the repository root.
 */
import * as tf from "@tensorflow/tfjs"
import { readFile } from "node:fs/promises"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { Effect, Layer } from "effect"
import {
  adamWStep,
  initAdamW,
  initModel,
  lookupIn,
  targetLogprobs,
  transformerLogits
} from "../src/adapters/local/index.js"
import { kitchenLayer, recipeTokenizer } from "../src/kitchen/index.js"
import { type AdamParams, type DataCursor, type Datum, toInts, Tokenizer, TrainingClient, type TransformerArchitecture } from "../src/ports/index.js"
import { compileRecipe, loadRecipe, recipeArchitecture, recipeHash, supervisedWorkflowConfig } from "../src/recipes/index.js"
import {
  emptySummary,
  learningRateAt,
  type LrSchedule,
  loadChatData,
  logMetrics,
  nextBatch,
  type NextBatchConfig,
  trainStep,
  renderChatData,
  RunKeys,
  takeBatch
} from "../src/stages/index.js"
import {
  loop,
  runWorkflow,
  sequence,
  stage,
  type SupervisedWorkflowConfig,
  workflow,
  type WorkflowResult
} from "../src/workflows/index.js"
import { countOption, formatTable, median, runBench } from "./report.js"

const recipeFile = "examples/sft-arithmetic/recipe.yaml"
const goal = 0.95

interface BenchOptions {
  readonly device: "wasm" | "cpu"
  readonly steps: number
  readonly turn: number
  readonly warmup: number
  readonly rounds: number
}

const readOptions = (): BenchOptions => {
  const { values } = parseArgs({
    options: {
      device: { type: "string", default: "wasm" },
      steps: { type: "string", default: "40" },
      turn: { type: "string", default: "5" },
      warmup: { type: "string", default: "5" },
      rounds: { type: "string", default: "3" }
    }
  })
  if (values.device !== "wasm" && values.device !== "cpu") throw new Error(`--device must be wasm or cpu, got ${values.device}`)
  return {
    device: values.device,
    steps: countOption("steps", values.steps, 1),
    turn: countOption("turn", values.turn, 1),
    warmup: countOption("warmup", values.warmup, 0),
    rounds: countOption("rounds", values.rounds, 1)
  }
}

/** What the hand-written loop needs to mirror the sous loop. */
interface HandWrittenLoopConfig {
  readonly architecture: TransformerArchitecture
  readonly seed: number
  readonly data: ReadonlyArray<Datum>
  readonly batch: NextBatchConfig
  readonly adam: Omit<AdamParams, "learning_rate">
  readonly schedule: LrSchedule
}

/** One training sequence of the hand-written loop, as plain arrays. */
interface Sequence {
  readonly inputs: ReadonlyArray<number>
  readonly targets: ReadonlyArray<number>
  readonly weights: ReadonlyArray<number>
}

/** Pads sequences on the right into flat [batch, length] arrays, as a hand-written loop would. */
const padSequences = (sequences: ReadonlyArray<Sequence>) => {
  const length = Math.max(...sequences.map((s) => s.inputs.length))
  const inputs = new Int32Array(sequences.length * length)
  const targets = new Int32Array(sequences.length * length)
  const weights = new Float32Array(sequences.length * length)
  sequences.forEach((s, row) => {
    inputs.set(s.inputs, row * length)
    targets.set(s.targets, row * length)
    weights.set(s.weights, row * length)
  })
  return { shape: [sequences.length, length] as [number, number], inputs, targets, weights }
}

/**
 * The baseline: a model and AdamW state in plain TensorFlow.js, and `run(steps)`, a
 * for-loop that takes the next batch, computes loss and gradients, applies AdamW and reads
 * the loss back, as one would write it by hand. `losses` holds the mean loss per trained
 * token of every step taken.
 */
const handWrittenLoop = (config: HandWrittenLoopConfig) => {
  const params = initModel(config.architecture, config.seed)
  const weight = lookupIn(params)
  const variables = params.names.map((name) => params.variables.get(name)!)
  const optimizer = initAdamW(params.variables)
  // Token arrays once, up front: a hand-written loop keeps its data as plain arrays.
  const sequences: ReadonlyArray<Sequence> = config.data.map((datum) => ({
    inputs: toInts(datum.model_input),
    targets: datum.loss_fn_inputs["target_tokens"]!.data,
    weights: datum.loss_fn_inputs["weights"]!.data
  }))
  const { batchSize, seed, shuffle } = config.batch
  let cursor: DataCursor = { epoch: 0, position: 0 }
  const losses: Array<number> = []

  const run = (steps: number): void => {
    for (let i = 0; i < steps; i++) {
      const next = takeBatch(cursor, sequences.length, batchSize, seed, shuffle)
      cursor = next.cursor
      const batch = padSequences(next.indices.map((index) => sequences[index]!))
      const learningRate = learningRateAt(config.schedule, losses.length)
      const loss = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => {
          const logits = transformerLogits(config.architecture, weight, tf.tensor2d(batch.inputs, batch.shape, "int32"))
          const logprobs = targetLogprobs(logits, tf.tensor2d(batch.targets, batch.shape, "int32"))
          return logprobs.mul(tf.tensor2d(batch.weights, batch.shape)).sum().neg() as tf.Scalar
        }, variables)
        const byName = new Map(params.names.map((name, j) => [name, grads[variables[j]!.name]!.dataSync() as Float32Array]))
        adamWStep(params.variables, byName, optimizer, { ...config.adam, learning_rate: learningRate })
        return value
      })
      const weightSum = batch.weights.reduce((total, weight) => total + weight, 0)
      losses.push(loss.dataSync()[0]! / Math.max(weightSum, 1))
      loss.dispose()
    }
  }
  return { run, losses }
}

/**
 * The sous loop: the real stages in a `loop` node, interpreted by the workflow runner.
 * Each `run(steps)` continues where the last one stopped, as a resumed run does: from a
 * cursor at the root holding the step counter and run state the last run left.
 */
const sousLoop = (config: SupervisedWorkflowConfig, state: Readonly<Record<string, unknown>>) => {
  const body = sequence(
    stage(nextBatch(config.batch)),
    stage(trainStep(config.optimizer)),
    stage(logMetrics)
  )
  let last: WorkflowResult = { step: 0, state }
  const run = (steps: number) =>
    runWorkflow(
      workflow({
        name: "bench-train",
        initial: [RunKeys.trainData, RunKeys.totalSteps, RunKeys.dataCursor, RunKeys.summary],
        root: loop({ name: "train", times: steps, body })
      }),
      { cursor: { position: [], step: last.step, state: last.state } }
    ).pipe(Effect.map((result) => { last = result }))
  return { run }
}

/** How long `effect` takes, in seconds. */
const seconds = <E, R>(effect: Effect.Effect<void, E, R>) =>
  Effect.gen(function*() {
    const startedAt = performance.now()
    yield* effect
    return (performance.now() - startedAt) / 1000
  })

/** The largest difference between the sous loop's logged losses (one JSONL line per step) and the hand-written loop's. */
const lossDifference = async (metricsFile: string, rawLosses: ReadonlyArray<number>) => {
  const lines = (await readFile(metricsFile, "utf8")).trim().split("\n")
  const sousLosses = new Map(lines.map((line) => JSON.parse(line) as { step: number; loss: number }).map((m) => [m.step, m.loss]))
  let largest = 0
  // log-metrics records the step count after the optimizer step: step k is loss k - 1.
  rawLosses.forEach((loss, index) => {
    largest = Math.max(largest, Math.abs((sousLosses.get(index + 1) ?? Number.NaN) - loss))
  })
  return { largest, steps: sousLosses.size }
}

const format = (value: number, digits: number) => value.toFixed(digits)

const bench = (options: BenchOptions, runDir: string) =>
  Effect.gen(function*() {
    const benchSteps = options.warmup + options.rounds * options.steps
    // One thread, as the hand-written loop runs: the bench measures the loop, not parallelism.
    const loaded = yield* loadRecipe(recipeFile, [`backend.device=${options.device}`, "backend.threads=1"])
    if (loaded.kind !== "supervised") return yield* Effect.die(new Error(`the bench runs a supervised recipe, got ${loaded.kind}`))
    // The loops follow the recipe's learning-rate schedule, lengthened only if the bench runs past its end.
    const totalSteps = Math.max(loaded.training.steps ?? 0, benchSteps)
    const recipe = { ...loaded, training: { ...loaded.training, steps: totalSteps } }
    const config = supervisedWorkflowConfig(recipe)
    const compiled = compileRecipe(recipe, { runId: "bench", recipeHash: recipeHash(recipe), startedAt: Date.now() })

    return yield* Effect.gen(function*() {
      const info = yield* (yield* TrainingClient).info
      const architecture = recipeArchitecture(recipe, (yield* Tokenizer).vocabSize)
      // The hand-written loop builds sous's own transformer only.
      if (architecture.kind !== "transformer") return yield* Effect.die(new Error(`${recipeFile}: the bench compares sous's transformer, not model.hf`))

      // Untimed: read and render the chat data with the real stages.
      const setup = yield* runWorkflow(workflow({
        name: "bench-setup",
        root: sequence(stage(loadChatData(config.data)), stage(renderChatData(config.render)))
      }))
      const trainData = setup.state[RunKeys.trainData.name] as ReadonlyArray<Datum>

      const sous = sousLoop(config, {
        ...setup.state,
        [RunKeys.dataCursor.name]: { epoch: 0, position: 0 },
        [RunKeys.summary.name]: emptySummary
      })
      const raw = handWrittenLoop({
        architecture,
        seed: recipe.seed,
        data: trainData,
        batch: config.batch,
        adam: config.optimizer.adam,
        schedule: { ...config.optimizer.schedule, totalSteps }
      })
      const runRaw = (steps: number) => Effect.sync(() => raw.run(steps))

      yield* Effect.sync(() =>
        console.log(
          [
            `sous bench: training loop, sous vs hand-written TensorFlow.js`,
            `model: ${recipeFile}: transformer, ${architecture.layers} layers, width ${architecture.width}, ` +
            `${architecture.heads} heads, context ${architecture.contextLength}, vocab ${architecture.vocabSize}, ` +
            `${info.parameterCount.toLocaleString("en-US")} parameters; ${trainData.length} training examples, batch ${config.batch.batchSize}`,
            `backend: TensorFlow.js ${tf.version_core} on ${info.device}`,
            `steps: ${options.warmup} warmup, then rounds of ${options.steps} timed steps per loop ` +
            `in alternating turns of ${options.turn}, ${options.rounds} rounds`,
            ""
          ].join("\n")
        )
      )

      yield* sous.run(options.warmup)
      yield* runRaw(options.warmup)
      const rounds: Array<{ readonly sous: number; readonly raw: number }> = []
      for (let round = 0; round < options.rounds; round++) {
        let sousSeconds = 0
        let rawSeconds = 0
        for (let done = 0, turn = 0; done < options.steps; done += options.turn, turn++) {
          const steps = Math.min(options.turn, options.steps - done)
          // Taking turns in both orders cancels any advantage of going first.
          if (turn % 2 === 0) {
            sousSeconds += yield* seconds(sous.run(steps))
            rawSeconds += yield* seconds(runRaw(steps))
          } else {
            rawSeconds += yield* seconds(runRaw(steps))
            sousSeconds += yield* seconds(sous.run(steps))
          }
        }
        rounds.push({ sous: options.steps / sousSeconds, raw: options.steps / rawSeconds })
      }

      const ratio = median(rounds.map((r) => r.sous / r.raw))
      const check = yield* Effect.promise(() => lossDifference(join(runDir, "metrics.jsonl"), raw.losses))
      yield* Effect.sync(() =>
        console.log(
          [
            formatTable([
              ["round", "sous steps/s", "hand-written steps/s", "sous/hand-written"],
              ...rounds.map((r, index) => [String(index + 1), format(r.sous, 2), format(r.raw, 2), format(r.sous / r.raw, 3)]),
              ["median", format(median(rounds.map((r) => r.sous)), 2), format(median(rounds.map((r) => r.raw)), 2), format(ratio, 3)]
            ]),
            "",
            `ratio sous/hand-written (median of the rounds): ${format(ratio, 3)}; goal >= ${goal}: ${ratio >= goal ? "met" : "NOT met"}`,
            `same math: ${check.steps} sous steps logged, ${raw.losses.length} hand-written steps; ` +
            `largest loss difference at the same step: ${check.largest}`
          ].join("\n")
        )
      )
    }).pipe(Effect.provide(Layer.provideMerge(compiled.clientLayer, kitchenLayer(recipe, { runDir }, yield* recipeTokenizer(recipe)))))
  })

const options = readOptions()
await runBench("sous-bench-", (dir) => bench(options, dir))
