import { assert, describe, it } from "@effect/vitest"
import { Effect, References } from "effect"
import { cpSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { localBackendLayer, makeLocalBackend } from "../../../src/adapters/local/local-backend.js"
import { decodeState } from "../../../src/adapters/local/state-codec.js"
import {
  type AdamParams,
  fromInts,
  type HfModelArchitecture,
  type TrainingClient,
  TrainingBackend
} from "../../../src/ports/index.js"
import { tempDirectory } from "../../support/temp-directory.js"
import { awaitCall, bytesOf, maxAbsDiff, sequenceDatum, weightBytes, weightValues } from "./fixtures.js"

// The local backend training Hugging Face models from their directories (the committed
// tiny fixtures, vocab 96), full and LoRA, on the wasm backend.
const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), "../../fixtures/hf")
const hfModel = (name: string, contextLength = 16): HfModelArchitecture => ({
  kind: "hf",
  dir: join(fixtures, name),
  vocabSize: 96,
  contextLength
})

const adam: AdamParams = { learning_rate: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0, grad_clip_norm: 1 }

// Two repeating sequences a model can learn within a few dozen steps.
const batch = [
  sequenceDatum([5, 6, 7, 8, 5, 6, 7, 8, 5, 6, 7, 8, 5]),
  sequenceDatum([40, 41, 42, 40, 41, 42, 40, 41, 42, 40])
]

/** Mean loss per target token of `batch` after each of `steps` optimizer steps (the first before any). */
const train = (client: TrainingClient["Service"], steps: number) =>
  Effect.gen(function*() {
    const targets = batch.reduce((total, datum) => total + datum.loss_fn_inputs["target_tokens"]!.data.length, 0)
    const losses: Array<number> = []
    for (let step = 0; step < steps; step++) {
      const output = yield* awaitCall(client.forwardBackward(batch, "cross_entropy"))
      losses.push(output.metrics["loss:sum"]! / targets)
      yield* awaitCall(client.optimStep(adam))
    }
    return losses
  })

/** The tensors of saved weights by name, as float32 values. */
const tensorsOf = (bytes: Uint8Array): Map<string, Float32Array> => {
  const state = decodeState(bytes)
  // Copied out: the data may start at an offset a Float32Array cannot view.
  const data = new Float32Array(state.data.slice().buffer)
  const tensors = new Map<string, Float32Array>()
  let offset = 0
  for (const { name, shape } of state.header.tensors) {
    const size = shape.reduce((a, b) => a * b, 1)
    tensors.set(name, data.subarray(offset, offset + size))
    offset += size
  }
  return tensors
}

/** `effect` with a one-thread wasm backend, quiet (the backend logs its device at info). */
const withBackend = <A, E>(effect: Effect.Effect<A, E, TrainingBackend>) =>
  effect.pipe(Effect.provide(localBackendLayer({ device: "wasm", threads: 1 })), Effect.provideService(References.MinimumLogLevel, "Warn"))

describe("the local backend on Hugging Face models", () => {
  it.live("samples the base model as transformers does: greedy tokens equal the fixture's", () =>
    Effect.gen(function*() {
      const backend = yield* TrainingBackend
      const reference = JSON.parse(readFileSync(join(fixtures, "llama", "reference.json"), "utf8"))
      const sampler = yield* backend.createSamplingClient({ baseModel: "llama", architecture: hfModel("llama"), seed: 0 })
      const { prompt, tokens } = reference.greedy as { prompt: Array<number>; tokens: Array<number> }
      const response = yield* awaitCall(sampler.sample(fromInts(prompt), 1, { max_tokens: tokens.length, temperature: 0, top_k: -1, top_p: 1, seed: 1 }))
      assert.deepStrictEqual(response.sequences[0]!.tokens, tokens)
      assert.strictEqual(response.sequences[0]!.logprobs!.length, tokens.length)
      assert.isTrue(response.sequences[0]!.logprobs!.every((logprob) => logprob <= 0 && Number.isFinite(logprob)))
    }).pipe(Effect.scoped, withBackend))

  it.live("fine-tunes Llama and GPT-2 fully: the loss falls by half in 30 steps, and the same seed gives the same weights", () =>
    Effect.gen(function*() {
      const backend = yield* TrainingBackend
      for (const name of ["llama", "gpt2"]) {
        const runs = yield* Effect.forEach([0, 1], () =>
          Effect.scoped(Effect.gen(function*() {
            const client = yield* backend.createTrainingClient({ baseModel: name, architecture: hfModel(name), seed: 3 })
            const losses = yield* train(client, 30)
            return { losses, weights: yield* weightBytes(client) }
          })))
        const { losses } = runs[0]!
        assert.isBelow(losses.at(-1)!, losses[0]! / 2, `${name}: ${losses[0]} → ${losses.at(-1)}`)
        assert.deepStrictEqual(runs[1]!.weights, runs[0]!.weights, name)
      }
    }).pipe(withBackend), 60_000)

  it.live("trains LoRA on Hugging Face module names: the base stays bit-identical, the loss falls, sampling works", () =>
    Effect.gen(function*() {
      const backend = yield* TrainingBackend
      const architecture = hfModel("llama")
      const client = yield* backend.createTrainingClient({
        baseModel: "llama",
        architecture,
        seed: 3,
        lora: { rank: 4, targets: ["q_proj", "v_proj", "down_proj"] }
      })
      const start = tensorsOf(bytesOf(yield* awaitCall(client.saveWeightsForSampler("start"))))
      const losses = yield* train(client, 30)
      assert.isBelow(losses.at(-1)!, losses[0]! * 0.75, `${losses[0]} → ${losses.at(-1)}`)
      const state = decodeState(bytesOf(yield* awaitCall(client.saveState("lora"))))
      const adapters = state.header.tensors.map((t) => t.name).filter((n) => n.startsWith("lora/"))
      // A and B for q, v and down of each of the 2 layers.
      assert.strictEqual(adapters.length, 2 * 3 * 2)
      assert.isTrue(adapters.every((n) => /\.(q_proj|v_proj|down_proj)\.weight\.lora_[ab]$/.test(n)), adapters.join(", "))
      // Merged weights: the targets moved, every other weight is the file's, bit for bit.
      const end = tensorsOf(bytesOf(yield* awaitCall(client.saveWeightsForSampler("end"))))
      for (const [name, values] of start) {
        const same = values.every((value, i) => Object.is(value, end.get(name)![i]))
        assert.strictEqual(same, !/\.(q_proj|v_proj|down_proj)\.weight$/.test(name), name)
      }
      const sampler = yield* backend.createSamplingClient(yield* awaitCall(client.saveWeightsForSampler("sampler")))
      const sampled = yield* awaitCall(sampler.sample(fromInts([5, 6, 7]), 2, { max_tokens: 5, temperature: 1, top_k: -1, top_p: 1, seed: 7 }))
      for (const sequence of sampled.sequences) {
        assert.strictEqual(sequence.tokens.length, 5)
        assert.isTrue(sequence.tokens.every((token) => token >= 0 && token < 96))
        assert.strictEqual(sequence.logprobs!.length, 5)
      }
    }).pipe(Effect.scoped, withBackend), 30_000)

  it.live("saves and resumes: a restored client steps to the very weights the first one reaches", () =>
    Effect.gen(function*() {
      const backend = yield* TrainingBackend
      for (const lora of [undefined, { rank: 2, targets: ["c_attn", "c_fc"] }]) {
        const config = { baseModel: "gpt2", architecture: hfModel("gpt2"), seed: 5, ...(lora === undefined ? {} : { lora }) }
        const first = yield* backend.createTrainingClient(config)
        yield* train(first, 3)
        const saved = yield* awaitCall(first.saveState("step-3"))
        yield* train(first, 2)
        const resumed = yield* backend.createTrainingClient(config)
        yield* awaitCall(resumed.loadState(saved, { optimizer: true }))
        yield* train(resumed, 2)
        assert.deepStrictEqual(yield* weightBytes(resumed), yield* weightBytes(first), lora === undefined ? "full" : "lora")
      }
    }).pipe(Effect.scoped, withBackend), 30_000)

  it.effect("cuts batches across threads: the workers get the directory's weights (the compiled worker: npm run build first)", () =>
    Effect.gen(function*() {
      const results = []
      for (const threads of [1, 2]) {
        const backend = yield* makeLocalBackend({ device: "wasm", threads })
        const client = yield* backend.createTrainingClient({ baseModel: "llama", architecture: hfModel("llama"), seed: 3, lora: { rank: 2 } })
        results.push({ losses: yield* train(client, 3), weights: yield* weightValues(client) })
      }
      assert.isBelow(maxAbsDiff(results[1]!.losses, results[0]!.losses), 1e-4 * results[0]!.losses[0]!)
      assert.isBelow(maxAbsDiff(results[1]!.weights, results[0]!.weights), 1e-4)
    }).pipe(Effect.scoped, Effect.provideService(References.MinimumLogLevel, "Warn")), 30_000)

  it.live("refuses what it cannot do, naming it", () =>
    Effect.gen(function*() {
      const backend = yield* TrainingBackend
      const refused = (config: Parameters<TrainingBackend["Service"]["createTrainingClient"]>[0]) =>
        Effect.map(Effect.flip(backend.createTrainingClient(config)), (error) => error.message)
      assert.include(
        yield* refused({ baseModel: "llama", architecture: hfModel("llama"), seed: 0, lora: { rank: 2, targets: ["q_prj"] } }),
        `lora.targets: "q_prj" is not a module of LlamaForCausalLM; did you mean "q_proj"?`
      )
      assert.include(
        yield* refused({ baseModel: "gpt2", architecture: hfModel("gpt2", 4096), seed: 0 }),
        "contextLength 4096 exceeds the 64 positions of the model at"
      )
      assert.include(
        yield* refused({ baseModel: "x", architecture: { ...hfModel("llama"), dir: join(fixtures, "none") }, seed: 0 }),
        `cannot read ${join(fixtures, "none", "config.json")}`
      )
      assert.include(
        yield* refused({ baseModel: "llama", architecture: { ...hfModel("llama"), vocabSize: 200 }, seed: 0 }),
        "the tokenizer has 200 ids, more than the model's vocab_size 96"
      )
      // A config fixed after a refusal is read again (a long-lived server sees the fix).
      const dir = yield* tempDirectory("hf-config")
      cpSync(join(fixtures, "gpt2"), dir, { recursive: true })
      const config = readFileSync(join(dir, "config.json"), "utf8")
      writeFileSync(join(dir, "config.json"), config.replace(`"gelu_new"`, `"relu"`))
      assert.include(yield* refused({ baseModel: "gpt2", architecture: { ...hfModel("gpt2"), dir }, seed: 0 }), `activation_function: "relu" is not supported`)
      writeFileSync(join(dir, "config.json"), config)
      yield* backend.createTrainingClient({ baseModel: "gpt2", architecture: { ...hfModel("gpt2"), dir }, seed: 0 })
    }).pipe(Effect.scoped, withBackend))
})
