/**
 * `npm run bench` (second part): throughput of the local backend through its public port
 * API, on the `cpu` (plain JavaScript) and `wasm` TensorFlow.js backends, in one run:
 *
 * - optimizer steps per second of the transformer of examples/sft-arithmetic (byte
 *   tokenizer, vocab 261, context 64, width 64, 2 layers, 4 heads; batch 16 of that
 *   example's training conversations, rendered as `User: …\n\nAssistant: …<|eos|>` and
 *   trained on the answer) and of an MLP classifier (`{ kind: "mlp", inputShape: [784],
 *   hidden: [128], classes: 10 }`; batch 64 of random `float_tensor` inputs with random
 *   class ids), on each backend, and the ratio wasm/cpu;
 * - LoRA (rank 8) against full fine-tuning of the transformer on wasm, and their ratio;
 * - data parallelism: the transformer on wasm with the default threads (`auto`: one per core,
 *   at most 4) against the same model on one thread, and their ratio, at the example's batch of
 *   16 and at a batch of 64 (`--wide-batch`), which gives each thread four times the work;
 * - sampling throughput of the transformer on each backend: `saveWeightsForSampler`, then
 *   `createSamplingClient(ref)`, then `--requests` requests `sample(prompt, --samples,
 *   { max_tokens: --max-tokens, temperature: 1, top_k: -1, top_p: 1, seed })` per round, one
 *   after another; generated tokens (all sequences together) per second of the requests. One
 *   request takes tens of milliseconds, which a pause of the machine could double.
 *
 * A step is what a training loop over the port does: submit `forwardBackward(batch,
 * "cross_entropy")` and `optimStep(adamParams({ learning_rate: 1e-3 }))`, then await both
 * results. Batches are built before timing; client creation, warmup steps and the first
 * sample request are not timed.
 *
 * When `python3` can import torch, the same models, optimizer and sampling loop run in
 * PyTorch too (bench/torch-reference.py, with 1 and with 2 threads), and the report adds
 * sous/torch ratios; without torch it says why and measures sous alone (CI needs no Python).
 *
 * The TensorFlow.js engine is global to a process and `makeLocalBackend({ device })` picks
 * one backend per process, so the parent process runs each device in a child process (this
 * script with `--worker cpu|wasm`), and each torch setting in another. Every child warms up,
 * then runs one round at a time when the parent asks (see `startLockstepChild`): the parent
 * runs round 1 of every child, then round 2, and so on, rotating who goes first, so that all
 * of them meet the same interference on a shared machine. Within a round, models measured
 * side by side (full and LoRA) alternate which goes first too. The report gives the median
 * over `--rounds` rounds; a ratio is the median of the rounds' ratios (rounds of different
 * children are paired by number, since they ran back to back).
 *
 * Options: `--steps N` timed transformer steps per round on wasm (20), `--cpu-steps N` the same
 * on cpu, which is several times slower (4); the MLP, much faster, takes five times as many
 * steps per round, the batch of 64 a quarter as many. `--warmup N` untimed steps per model first
 * (30: a worker thread's engine compiles its WebAssembly anew and runs its baseline code until
 * V8 has optimized it; after 10 the first timed round was still the slowest of three for every
 * model, in three runs of three; the MLP takes five times as many on cpu and forty times as many
 * on wasm, 1,200 steps of 1.5-3 ms: its speed kept rising for about its first thousand steps, in
 * rounds of 100 in three runs, while V8 dropped and redid its optimized code of tfjs's tape
 * functions, six times a hundred steps on average),
 * `--rounds N` (5), `--requests N` sample requests per round (5), `--samples N` sequences per sample request (8), `--max-tokens N` new
 * tokens per sequence (32), `--python PATH` the interpreter for the torch reference
 * (python3). Run from the repository root.
 */
import { readFile } from "node:fs/promises"
import { availableParallelism } from "node:os"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { Effect, References } from "effect"
import { makeLocalBackend, maxAutoThreads } from "../src/adapters/local/index.js"
import { makeByteTokenizer } from "../src/adapters/tokenizers/byte-tokenizer.js"
import {
  adamParams,
  type Datum,
  float32,
  fromFloats,
  fromInts,
  int64,
  type LoraConfig,
  type MlpArchitecture,
  type ModelArchitecture,
  type TrainingBackend,
  type TransformerArchitecture
} from "../src/ports/index.js"
import { countOption, formatTable, type LockstepChild, median, pairedRatio, startLockstepChild } from "./report.js"
import { ompWaitPolicy, probeTorch, startTorchReference, torchTable } from "./torch-compare.js"

const trainFile = "examples/sft-arithmetic/data/train.jsonl"
const devices = ["cpu", "wasm"] as const
type Device = (typeof devices)[number]

interface BenchOptions {
  readonly worker: Device | undefined
  readonly steps: number
  readonly cpuSteps: number
  readonly warmup: number
  readonly rounds: number
  readonly samples: number
  readonly maxTokens: number
  readonly requests: number
  readonly python: string
}

const readOptions = (): BenchOptions => {
  const { values } = parseArgs({
    options: {
      worker: { type: "string" },
      steps: { type: "string", default: "20" },
      "cpu-steps": { type: "string", default: "4" },
      warmup: { type: "string", default: "30" },
      rounds: { type: "string", default: "5" },
      samples: { type: "string", default: "8" },
      "max-tokens": { type: "string", default: "32" },
      requests: { type: "string", default: "5" },
      python: { type: "string", default: "python3" }
    }
  })
  const worker = values.worker
  if (worker !== undefined && worker !== "cpu" && worker !== "wasm") throw new Error(`--worker must be cpu or wasm, got ${worker}`)
  return {
    worker,
    steps: countOption("steps", values.steps, 1),
    cpuSteps: countOption("cpu-steps", values["cpu-steps"], 1),
    warmup: countOption("warmup", values.warmup, 0),
    rounds: countOption("rounds", values.rounds, 1),
    samples: countOption("samples", values.samples, 1),
    maxTokens: countOption("max-tokens", values["max-tokens"], 1),
    requests: countOption("requests", values.requests, 1),
    python: values.python
  }
}

const tokenizer = makeByteTokenizer()
const eos = tokenizer.specialTokens["<|eos|>"]!

const transformer: TransformerArchitecture = {
  kind: "transformer",
  vocabSize: tokenizer.vocabSize,
  contextLength: 64,
  width: 64,
  layers: 2,
  heads: 4
}
const transformerBatch = 16
/** The larger batch data parallelism is also measured at: four times the work per thread. */
const wideBatch = 64

const mlp: MlpArchitecture = { kind: "mlp", inputShape: [784], hidden: [128], classes: 10 }
const mlpBatch = 64
/** The MLP steps several times faster than the transformer; it takes this many times the steps, to be timed as long. */
const mlpStepFactor = 5
/** Warmup steps of the MLP on wasm per `--warmup` step (see the options above). */
const mlpWasmWarmupFactor = 40

const mlpWarmup = (device: Device, warmup: number) => warmup * (device === "wasm" ? mlpWasmWarmupFactor : mlpStepFactor)

/** The transformer's prompt text for a question, as the role-colon renderer writes it. */
const promptText = (question: string) => `User: ${question}\n\nAssistant:`

/** The example's conversations as datums: the whole text is input, the answer and `<|eos|>` are trained. */
const arithmeticData = async (): Promise<ReadonlyArray<Datum>> => {
  const lines = (await readFile(trainFile, "utf8")).trim().split("\n")
  return lines.map((line) => {
    const { messages } = JSON.parse(line) as { messages: ReadonlyArray<{ role: string; content: string }> }
    const prompt = tokenizer.encode(promptText(messages[0]!.content))
    const answer = [...tokenizer.encode(` ${messages[1]!.content}`), eos]
    const tokens = [...prompt, ...answer]
    const weights = tokens.map((_, index) => (index >= prompt.length ? 1 : 0))
    return {
      model_input: fromInts(tokens.slice(0, -1)),
      loss_fn_inputs: { target_tokens: int64(tokens.slice(1)), weights: float32(weights.slice(1)) }
    }
  })
}

/** Deterministic uniform numbers in [0, 1) (mulberry32), so both children see the same data. */
const uniform = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

/** Random images and class ids for the MLP: one float_tensor chunk, one target, one weight. */
const mlpData = (count: number): ReadonlyArray<Datum> => {
  const random = uniform(7)
  return Array.from({ length: count }, () => ({
    model_input: fromFloats(Array.from({ length: 784 }, random), [784]),
    loss_fn_inputs: { target_tokens: int64([Math.floor(random() * mlp.classes)]), weights: float32([1]) }
  }))
}

/** `data` cut into consecutive batches of `size` (the last partial one dropped). */
const batchesOf = (data: ReadonlyArray<Datum>, size: number): ReadonlyArray<ReadonlyArray<Datum>> =>
  Array.from({ length: Math.floor(data.length / size) }, (_, index) => data.slice(index * size, (index + 1) * size))

/** How long `effect` takes, in seconds. */
const seconds = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const startedAt = performance.now()
    yield* effect
    return (performance.now() - startedAt) / 1000
  })

/**
 * A training client of `architecture` and `run(steps)`, which takes that many optimizer
 * steps over `batches` in turn, each submitted as forward/backward then optimizer step
 * before either is awaited.
 */
const trainer = (
  backend: TrainingBackend["Service"],
  architecture: ModelArchitecture,
  batches: ReadonlyArray<ReadonlyArray<Datum>>,
  lora?: LoraConfig
) =>
  Effect.gen(function*() {
    const client = yield* backend.createTrainingClient({
      baseModel: `bench-${architecture.kind}`,
      architecture,
      seed: 0,
      ...(lora === undefined ? {} : { lora })
    })
    const adam = adamParams({ learning_rate: 1e-3 })
    let next = 0
    const run = (steps: number) =>
      Effect.gen(function*() {
        for (let step = 0; step < steps; step++) {
          const batch = batches[next++ % batches.length]!
          const backward = yield* client.forwardBackward(batch, "cross_entropy")
          const optim = yield* client.optimStep(adam)
          yield* backward.result
          yield* optim.result
        }
      })
    return { client, run }
  })

/** What a child prints once warmed up. */
interface WorkerHeader {
  readonly device: string
  readonly transformerParameters: number
  readonly loraParameters?: number
  readonly mlpParameters: number
}

/** What a child measures in one round; a missing entry was not measured on that device. */
interface WorkerRound {
  readonly transformer: number
  /** The transformer on one thread, where `transformer` takes the default (`auto`) threads; wasm only. */
  readonly transformerOneThread?: number
  /** The transformer on batches of {@link wideBatch}: default threads and one thread; wasm only. */
  readonly wide?: number
  readonly wideOneThread?: number
  readonly mlp: number
  readonly lora?: number
  readonly sampling: number
}

/** A child's header and its rounds, in order. */
interface WorkerResult extends WorkerHeader {
  readonly rounds: ReadonlyArray<WorkerRound>
}

const worker = (device: Device, options: BenchOptions) =>
  Effect.gen(function*() {
    const backend = yield* makeLocalBackend({ device, decode: tokenizer.decode })
    const capabilities = yield* backend.capabilities
    const steps = device === "cpu" ? options.cpuSteps : options.steps
    const fullAndLora = device === "wasm"
    const mlpSteps = steps * mlpStepFactor

    const conversations = yield* Effect.promise(arithmeticData)
    const text = batchesOf(conversations, transformerBatch)
    const images = batchesOf(mlpData(mlpBatch * 4), mlpBatch)
    const full = yield* trainer(backend, transformer, text)
    const lora = fullAndLora ? yield* trainer(backend, transformer, text, { rank: 8 }) : undefined
    // The same model on one thread, against the default's data-parallel threads, at both batches.
    const oneThread = fullAndLora ? yield* makeLocalBackend({ device, threads: 1, decode: tokenizer.decode }) : undefined
    const single = oneThread === undefined ? undefined : yield* trainer(oneThread, transformer, text)
    const wideText = batchesOf(conversations, wideBatch)
    const wide = oneThread === undefined ? undefined : yield* trainer(backend, transformer, wideText)
    const wideSingle = oneThread === undefined ? undefined : yield* trainer(oneThread, transformer, wideText)
    const wideSteps = Math.max(1, Math.round(steps * transformerBatch / wideBatch))
    const classifier = yield* trainer(backend, mlp, images)

    for (const client of [full, lora, single, wide, wideSingle]) if (client !== undefined) yield* client.run(options.warmup)
    yield* classifier.run(mlpWarmup(device, options.warmup))

    // The sampler loads the full model's weights after its warmup; the first request warms it up.
    const sampler = yield* backend.createSamplingClient(yield* (yield* full.client.saveWeightsForSampler("bench")).result)
    const prompt = fromInts(tokenizer.encode(promptText("Add 12 and 34.")))
    const sample = (seed: number) =>
      Effect.gen(function*() {
        const pending = yield* sampler.sample(prompt, options.samples, {
          max_tokens: options.maxTokens,
          temperature: 1,
          top_k: -1,
          top_p: 1,
          seed
        })
        const response = yield* pending.result
        return response.sequences.reduce((total, sequence) => total + sequence.tokens.length, 0)
      })
    yield* sample(0)

    const header: WorkerHeader = {
      device: capabilities.device,
      transformerParameters: (yield* full.client.info).parameterCount,
      ...(lora === undefined ? {} : { loraParameters: (yield* lora.client.info).parameterCount }),
      mlpParameters: (yield* classifier.client.info).parameterCount
    }
    yield* Effect.sync(() => console.log(JSON.stringify(header)))
    // One round per line the parent writes; the end of stdin ends the child.
    const commands = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
    for (let round = 0; !(yield* Effect.promise(() => commands.next())).done; round++) {
      let fullSeconds: number
      let loraSeconds: number | undefined
      // Full and LoRA take turns going first, so both meet the same interference.
      if (lora !== undefined && round % 2 === 1) {
        loraSeconds = yield* seconds(lora.run(steps))
        fullSeconds = yield* seconds(full.run(steps))
      } else {
        fullSeconds = yield* seconds(full.run(steps))
        if (lora !== undefined) loraSeconds = yield* seconds(lora.run(steps))
      }
      const singleSeconds = single === undefined ? undefined : yield* seconds(single.run(steps))
      // The wide pair takes turns going first too.
      let wideSeconds: number | undefined
      let wideSingleSeconds: number | undefined
      if (wide !== undefined && wideSingle !== undefined) {
        if (round % 2 === 1) wideSingleSeconds = yield* seconds(wideSingle.run(wideSteps))
        wideSeconds = yield* seconds(wide.run(wideSteps))
        if (round % 2 === 0) wideSingleSeconds = yield* seconds(wideSingle.run(wideSteps))
      }
      const mlpSeconds = yield* seconds(classifier.run(mlpSteps))
      const samplingStartedAt = performance.now()
      let tokens = 0
      for (let request = 0; request < options.requests; request++) tokens += yield* sample(1 + round * options.requests + request)
      const samplingSeconds = (performance.now() - samplingStartedAt) / 1000
      const result: WorkerRound = {
        transformer: steps / fullSeconds,
        ...(singleSeconds === undefined ? {} : { transformerOneThread: steps / singleSeconds }),
        ...(wideSeconds === undefined || wideSingleSeconds === undefined
          ? {}
          : { wide: wideSteps / wideSeconds, wideOneThread: wideSteps / wideSingleSeconds }),
        mlp: mlpSteps / mlpSeconds,
        ...(loraSeconds === undefined ? {} : { lora: steps / loraSeconds }),
        sampling: tokens / samplingSeconds
      }
      yield* Effect.sync(() => console.log(JSON.stringify(result)))
    }
  }).pipe(Effect.scoped)

/** Starts this script as `--worker device` in a child process and waits until it has warmed up. */
const startWorker = (device: Device, options: BenchOptions): Promise<LockstepChild<WorkerHeader, WorkerRound>> =>
  startLockstepChild(`the ${device} worker`, process.execPath, [
    fileURLToPath(import.meta.url),
    "--worker", device,
    "--steps", String(options.steps),
    "--cpu-steps", String(options.cpuSteps),
    "--warmup", String(options.warmup),
    "--samples", String(options.samples),
    "--max-tokens", String(options.maxTokens),
    "--requests", String(options.requests)
  ])

/** A child the parent drives and the rounds it has run. */
interface Entrant<Header, Round> {
  readonly child: LockstepChild<Header, Round>
  readonly rounds: Array<Round>
}

const entrant = async <Header, Round>(start: Promise<LockstepChild<Header, Round>>): Promise<Entrant<Header, Round>> =>
  ({ child: await start, rounds: [] })

const format = (value: number | undefined, digits: number) => (value === undefined ? "-" : value.toFixed(digits))

const parent = async (options: BenchOptions) => {
  const startedAt = performance.now()
  console.log(
    [
      "",
      "sous bench: local backend, cpu vs wasm, LoRA vs full, sampling, and a PyTorch reference (one child process per device)",
      `transformer: ${trainFile} through the byte tokenizer, vocab ${transformer.vocabSize}, context ${transformer.contextLength}, ` +
      `width ${transformer.width}, ${transformer.layers} layers, ${transformer.heads} heads; batch ${transformerBatch}`,
      `mlp: input [${mlp.inputShape.join(", ")}], hidden [${mlp.hidden.join(", ")}], ${mlp.classes} classes; ` +
      `batch ${mlpBatch} of random float_tensor inputs`,
      `steps: ${options.warmup} warmup per model (for the mlp ${mlpWarmup("cpu", options.warmup)} on cpu, ${mlpWarmup("wasm", options.warmup)} on wasm), then ${options.rounds} rounds of ${options.cpuSteps} (cpu) / ` +
      `${options.steps} (wasm) timed transformer steps, ${mlpStepFactor}x that for the mlp; ` +
      `step = forwardBackward(cross_entropy) + optimStep(adam, lr 1e-3)`,
      `sampling: ${options.samples} samples x max_tokens ${options.maxTokens}, temperature 1, top_k -1, top_p 1, ${options.requests} requests per round`,
      ""
    ].join("\n")
  )
  // Probed first: without torch the bench says so at once and goes on with sous alone.
  const torch = await probeTorch(options.python)
  console.log(
    torch.available
      ? `PyTorch reference: torch ${torch.version}, ${options.python} bench/torch-reference.py with 1 and with 2 threads ` +
        `(OMP_WAIT_POLICY=${ompWaitPolicy}), rounds interleaved with sous's\n`
      : `PyTorch comparison skipped: ${torch.reason}; measuring sous alone\n`
  )
  // Started one after the other, so that no warmup competes with another.
  const cpuChild = await entrant(startWorker("cpu", options))
  const wasmChild = await entrant(startWorker("wasm", options))
  const torchOne = torch.available ? await entrant(startTorchReference(options.python, 1, options)) : undefined
  const torchTwo = torch.available ? await entrant(startTorchReference(options.python, 2, options)) : undefined
  const entrants = [cpuChild, wasmChild, torchOne, torchTwo].filter((next) => next !== undefined)
  for (let round = 0; round < options.rounds; round++) {
    // Who goes first rotates from round to round, so that no child always follows the same one.
    for (let turn = 0; turn < entrants.length; turn++) {
      const next = entrants[(round + turn) % entrants.length]!
      next.rounds.push(await next.child.round())
    }
  }
  await Promise.all(entrants.map((next) => next.child.close()))
  const cpu: WorkerResult = { ...cpuChild.child.header, rounds: cpuChild.rounds }
  const wasm: WorkerResult = { ...wasmChild.child.header, rounds: wasmChild.rounds }

  const column = (result: WorkerResult, pick: (round: WorkerResult["rounds"][number]) => number | undefined) => {
    const values = result.rounds.map(pick).filter((value): value is number => value !== undefined)
    return values.length === 0 ? undefined : median(values)
  }
  const cpuTransformer = column(cpu, (r) => r.transformer)!
  const wasmTransformer = column(wasm, (r) => r.transformer)!
  const cpuMlp = column(cpu, (r) => r.mlp)!
  const wasmMlp = column(wasm, (r) => r.mlp)!
  const wasmLora = column(wasm, (r) => r.lora)
  const loraRatio = column(wasm, (r) => (r.lora === undefined ? undefined : r.lora / r.transformer))
  const parallelRatio = column(wasm, (r) => (r.transformerOneThread === undefined ? undefined : r.transformer / r.transformerOneThread))
  const wideParallelRatio = column(wasm, (r) => (r.wide === undefined || r.wideOneThread === undefined ? undefined : r.wide / r.wideOneThread))
  const cpuSampling = column(cpu, (r) => r.sampling)!
  const wasmSampling = column(wasm, (r) => r.sampling)!
  const wasmCpu = (pick: (round: WorkerRound) => number) => pairedRatio(wasm.rounds, cpu.rounds, pick)

  console.log(
    [
      `devices: cpu = ${cpu.device}; wasm = ${wasm.device}`,
      `parameters: transformer ${wasm.transformerParameters.toLocaleString("en-US")} ` +
      `(LoRA rank 8 trains ${(wasm.loraParameters ?? 0).toLocaleString("en-US")}), mlp ${wasm.mlpParameters.toLocaleString("en-US")}`,
      "",
      formatTable([
        ["measure (median of rounds)", "cpu", "wasm", "wasm/cpu"],
        ["transformer full, steps/s", format(cpuTransformer, 2), format(wasmTransformer, 2), format(wasmCpu((r) => r.transformer), 2)],
        ["transformer full 1 thread, steps/s", "-", format(column(wasm, (r) => r.transformerOneThread), 2), "-"],
        [`transformer batch ${wideBatch}, steps/s`, "-", format(column(wasm, (r) => r.wide), 2), "-"],
        [`transformer batch ${wideBatch} 1 thread, steps/s`, "-", format(column(wasm, (r) => r.wideOneThread), 2), "-"],
        ["transformer LoRA r8, steps/s", "-", format(wasmLora, 2), "-"],
        ["mlp, steps/s", format(cpuMlp, 2), format(wasmMlp, 2), format(wasmCpu((r) => r.mlp), 2)],
        ["sampling, tokens/s", format(cpuSampling, 1), format(wasmSampling, 1), format(wasmCpu((r) => r.sampling), 2)]
      ]),
      "",
      formatTable([
        ["wasm round", "full steps/s", "LoRA steps/s", "LoRA/full", "mlp steps/s", "sample tokens/s"],
        ...wasm.rounds.map((r, index) => [
          String(index + 1),
          format(r.transformer, 2),
          format(r.lora, 2),
          format(r.lora === undefined ? undefined : r.lora / r.transformer, 3),
          format(r.mlp, 2),
          format(r.sampling, 1)
        ])
      ]),
      "",
      formatTable([
        ["cpu round", "full steps/s", "mlp steps/s", "sample tokens/s"],
        ...cpu.rounds.map((r, index) => [String(index + 1), format(r.transformer, 2), format(r.mlp, 2), format(r.sampling, 1)])
      ]),
      "",
      `ratios (medians of the rounds' ratios): wasm/cpu transformer ${format(wasmCpu((r) => r.transformer), 2)}, ` +
      `mlp ${format(wasmCpu((r) => r.mlp), 2)}, sampling ${format(wasmCpu((r) => r.sampling), 2)}; ` +
      `LoRA/full on wasm ${format(loraRatio, 3)}; data-parallel on wasm, ${autoThreads} threads (auto) / 1 thread: ` +
      `transformer ${format(parallelRatio, 2)} at batch ${transformerBatch}, ${format(wideParallelRatio, 2)} at batch ${wideBatch}`
    ].join("\n")
  )
  if (torchOne !== undefined && torchTwo !== undefined) {
    const { child: { header: one }, rounds: oneRounds } = torchOne
    const { child: { header: two }, rounds: twoRounds } = torchTwo
    console.log(
      [
        "",
        `sous vs PyTorch (${one.device}; ${two.device}): the same models, batches, AdamW and ` +
        "sampling, both with a key/value cache",
        `torch parameters: transformer ${one.transformerParameters.toLocaleString("en-US")}, ` +
        `mlp ${one.mlpParameters.toLocaleString("en-US")}`,
        "",
        torchTable(wasm.rounds, oneRounds, twoRounds),
        "",
        formatTable([
          ["torch round", "1 thr transformer", "1 thr mlp", "1 thr sample", "2 thr transformer", "2 thr mlp", "2 thr sample"],
          ...oneRounds.map((r, index) => {
            const t = twoRounds[index]!
            return [String(index + 1), format(r.transformer, 2), format(r.mlp, 2), format(r.sampling, 1), format(t.transformer, 2), format(t.mlp, 2), format(t.sampling, 1)]
          })
        ])
      ].join("\n")
    )
  }
  console.log(`local-backend bench took ${((performance.now() - startedAt) / 1000).toFixed(1)} s`)
}

/** How many threads the default (`auto`) setting trains the transformer on here. */
const autoThreads = Math.min(availableParallelism(), maxAutoThreads)

const options = readOptions()
if (options.worker === undefined) {
  await parent(options)
} else {
  // The child's stdout carries only its JSON line; the backend's own info log is silenced.
  await Effect.runPromise(worker(options.worker, options).pipe(Effect.provideService(References.MinimumLogLevel, "Warn")))
}
