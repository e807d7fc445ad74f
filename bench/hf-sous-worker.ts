/**
 * The sous side of the hf-model bench (bench/hf-model.ts starts it once per phase): the
 * local backend through its public ports, as a recipe's stages drive it, on a Hugging Face
 * model directory. It runs one phase and prints its result as one JSON line:
 *
 * - load: `createTrainingClient({ architecture: { kind: "hf", dir } })`, which reads
 *   model.safetensors, widens bfloat16 to float32 and builds the model, its gradients and
 *   AdamW moments;
 * - sample: `createSamplingClient` of the base model, one untimed request, then `--requests`
 *   timed greedy requests (temperature 0) of `--new-tokens` after the prompt, one sequence;
 * - full: a new training client's steps, each `forwardBackward(batch, "cross_entropy")` then
 *   `optimStep(adam)`, both awaited; `--warmup` untimed first (the moments' first update),
 *   then `--steps` timed one by one;
 * - lora: the same with `lora: { rank, targets: q/k/v/o/gate/up/down_proj }`.
 *
 * A phase that fails reports the error (and the memory then) instead of its timings.
 * Usage: `node hf-sous-worker.js PHASE DIR --data FILE --steps N ...` (see `sideArgs`).
 */
import { readFile } from "node:fs/promises"
import { parseArgs } from "node:util"
import * as tf from "@tensorflow/tfjs"
import { Cause, Effect, References } from "effect"
import { makeLocalBackend } from "../src/adapters/local/index.js"
import { adamParams, type Datum, float32, fromInts, type HfModelArchitecture, int64 } from "../src/ports/index.js"
import { type HfBenchData, type HfPhase, hfPhases, type HfPhaseResult } from "./hf-phases.js"
import { countOption } from "./report.js"

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    data: { type: "string" },
    steps: { type: "string" },
    warmup: { type: "string" },
    requests: { type: "string" },
    "new-tokens": { type: "string" },
    rank: { type: "string" },
    threads: { type: "string" },
    "context-length": { type: "string" }
  }
})
const phase = positionals[0] as HfPhase
if (!hfPhases.includes(phase)) throw new Error(`the phase must be one of ${hfPhases.join(", ")}, got ${positionals[0]}`)
const dir = positionals[1]!
const steps = countOption("steps", values.steps!, 1)
const warmup = countOption("warmup", values.warmup!, 0)
const requests = countOption("requests", values.requests!, 1)
const newTokens = countOption("new-tokens", values["new-tokens"]!, 1)
const rank = countOption("rank", values.rank!, 1)
const threads = countOption("threads", values.threads!, 1)
const contextLength = countOption("context-length", values["context-length"]!, 2)

/** The PEFT names of every projection of a Llama layer: the usual "all linear" LoRA. */
const loraTargets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

const since = (startedAt: number) => (performance.now() - startedAt) / 1000

/** Seconds of each of `count` runs of `effect`. */
const timed = <E>(effect: Effect.Effect<unknown, E>, count: number) =>
  Effect.gen(function*() {
    const seconds: Array<number> = []
    for (let i = 0; i < count; i++) {
      const startedAt = performance.now()
      yield* effect
      seconds.push(since(startedAt))
    }
    return seconds
  })

// tfjs-wasm keeps its heap in a WebAssembly memory that grows and never shrinks, up to 4 GiB
// (wasm32): its size, not the tensors alive, is what runs out. tfjs has no API for it, so it
// is read from the backend's module; undefined on other backends.
const wasmHeapBytes = (): number | undefined =>
  (tf.backend() as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8?.buffer.byteLength

/** The most a wasm32 memory can hold, which tfjs-wasm is built to grow to. */
const wasmHeapLimit = 2 ** 32

const memory = () => {
  const heap = wasmHeapBytes()
  return {
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    tensorBytes: tf.memory().numBytes,
    ...(heap === undefined ? {} : { wasmHeapBytes: heap })
  }
}

const worker = Effect.gen(function*() {
  const data = JSON.parse(yield* Effect.promise(() => readFile(values.data!, "utf8"))) as HfBenchData
  const architecture: HfModelArchitecture = { kind: "hf", dir, vocabSize: 49152, contextLength }
  const backend = yield* makeLocalBackend({ device: "auto", threads })
  const device = (yield* backend.capabilities).device
  const base = { phase, device, threads }
  let setupSeconds: number | undefined
  /** `make`, timed into `setupSeconds`: creating a client loads the checkpoint. */
  const setup = <A, E, R>(make: Effect.Effect<A, E, R>) =>
    Effect.gen(function*() {
      const startedAt = performance.now()
      const made = yield* make
      setupSeconds = since(startedAt)
      return made
    })

  const run: Effect.Effect<HfPhaseResult, unknown> = Effect.scoped(Effect.gen(function*() {
    if (phase === "sample") {
      const sampler = yield* setup(backend.createSamplingClient({ baseModel: "smollm2-135m-shape", architecture, seed: 0 }))
      const tokens: Array<number> = []
      const request = Effect.gen(function*() {
        const pending = yield* sampler.sample(fromInts(data.prompt), 1, { max_tokens: newTokens, temperature: 0, top_k: -1, top_p: 1, seed: 0 })
        tokens.push((yield* pending.result).sequences[0]!.tokens.length)
      })
      yield* request
      tokens.length = 0
      const seconds = yield* timed(request, requests)
      return { ...base, seconds, tokens, setupSeconds: setupSeconds!, ...memory() }
    }
    const client = yield* setup(backend.createTrainingClient({
      baseModel: "smollm2-135m-shape",
      architecture,
      seed: 0,
      ...(phase === "lora" ? { lora: { rank, targets: loraTargets } } : {})
    }))
    if (phase === "load") return { ...base, seconds: [setupSeconds!], ...memory() }
    const batch: ReadonlyArray<Datum> = data.rows.map((row) => ({
      model_input: fromInts(row.slice(0, -1)),
      loss_fn_inputs: { target_tokens: int64(row.slice(1)), weights: float32(row.slice(1).map(() => 1)) }
    }))
    const adam = adamParams({ learning_rate: 1e-5 })
    const step = Effect.gen(function*() {
      const backward = yield* client.forwardBackward(batch, "cross_entropy")
      const optim = yield* client.optimStep(adam)
      yield* backward.result
      yield* optim.result
    })
    yield* timed(step, warmup)
    const seconds = yield* timed(step, steps)
    const trainedParameters = (yield* client.info).parameterCount
    return { ...base, seconds, setupSeconds: setupSeconds!, trainedParameters, ...memory() }
  }))
  // Every cause: once tfjs-wasm has aborted, freeing the client's tensors throws too.
  const result = yield* run.pipe(Effect.catchCause((cause) => {
    const error = Cause.squash(cause)
    const message = error instanceof Error ? error.message : String(error)
    // tfjs-wasm aborts on a failed allocation without saying so; the heap's size tells.
    const heap = wasmHeapBytes()
    const full = heap !== undefined && heap >= wasmHeapLimit - 2 ** 26
    return Effect.succeed<HfPhaseResult>({
      ...base,
      seconds: [],
      ...(setupSeconds === undefined ? {} : { setupSeconds }),
      failed: full ? `${message} (the wasm heap had grown to its 4 GiB limit)` : message,
      ...memory()
    })
  }))
  yield* Effect.sync(() => console.log(JSON.stringify(result)))
})

// stdout carries only the JSON line; the backend's own info log is silenced.
await Effect.runPromise(worker.pipe(Effect.provideService(References.MinimumLogLevel, "Warn")))
