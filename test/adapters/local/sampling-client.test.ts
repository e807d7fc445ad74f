import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect, Schema } from "effect"
import { makeLocalBackend } from "../../../src/adapters/local/local-backend.js"
import { adamParams, fromInts, SamplingParams } from "../../../src/ports/index.js"
import { awaitCall, fixedBatch, maxAbsDiff, sequenceDatum, tinyClient } from "./fixtures.js"

const backend = makeLocalBackend({ device: "wasm" })
const params = (overrides: Partial<SamplingParams>): SamplingParams => Schema.decodeUnknownSync(SamplingParams)(overrides)

/** A backend and a sampler whose model has memorised `fixedBatch` (50 steps). */
const trained = Effect.gen(function*() {
  const b = yield* backend
  const client = yield* tinyClient(b, 7)
  for (let step = 0; step < 50; step++) {
    yield* awaitCall(client.forwardBackward(fixedBatch, "cross_entropy"))
    yield* awaitCall(client.optimStep(adamParams({ learning_rate: 1e-2 })))
  }
  const weights = yield* awaitCall(client.saveWeightsForSampler("memorised"))
  return { backend: b, client, weights, sampler: yield* b.createSamplingClient(weights) }
})

describe("LocalSamplingClient", () => {
  it.effect("continues a memorised sequence greedily, stopping on a stop token or at max_tokens", () =>
    Effect.gen(function*() {
      const { sampler } = yield* trained
      const prompt = fromInts([1, 2, 3])
      const greedy = yield* awaitCall(sampler.sample(prompt, 2, params({ temperature: 0, max_tokens: 5 })))
      assert.strictEqual(greedy.sequences.length, 2)
      for (const sequence of greedy.sequences) {
        assert.deepStrictEqual(sequence.tokens, [4, 5, 6, 7, 8])
        assert.strictEqual(sequence.stop_reason, "length")
        assert.strictEqual(sequence.logprobs!.length, 5)
        assert.isTrue(sequence.logprobs!.every((lp) => lp <= 0 && lp > -1))
      }
      const stopped = yield* awaitCall(sampler.sample(prompt, 1, params({ temperature: 0, stop: [6], max_tokens: 5 })))
      assert.deepStrictEqual(stopped.sequences[0]!.tokens, [4, 5, 6])
      assert.strictEqual(stopped.sequences[0]!.stop_reason, "stop")
      // top_k 1 is greedy whatever the temperature.
      const topOne = yield* awaitCall(sampler.sample(prompt, 1, params({ temperature: 2, top_k: 1, max_tokens: 5, seed: 3 })))
      assert.deepStrictEqual(topOne.sequences[0]!.tokens, [4, 5, 6, 7, 8])
      // The context (8) leaves room for one token after a 7-token prompt.
      const full = yield* awaitCall(sampler.sample(fromInts([1, 2, 3, 4, 5, 6, 7]), 1, params({ temperature: 0, max_tokens: 5 })))
      assert.deepStrictEqual(full.sequences[0]!.tokens, [8])
      assert.strictEqual(full.sequences[0]!.stop_reason, "length")
    }))

  it.effect("repeats a seeded sample, and its logprobs agree with computeLogprobs and the trainer", () =>
    Effect.gen(function*() {
      const { client, sampler } = yield* trained
      const prompt = fromInts([5, 2])
      const sampling = params({ temperature: 1, max_tokens: 6, seed: 11 })
      const first = yield* awaitCall(sampler.sample(prompt, 3, sampling))
      assert.deepStrictEqual(yield* awaitCall(sampler.sample(prompt, 3, sampling)), first)

      const sequence = first.sequences[0]!
      const all = [5, 2, ...sequence.tokens]
      const logprobs = yield* awaitCall(sampler.computeLogprobs(fromInts(all)))
      assert.strictEqual(logprobs[0], null)
      assert.strictEqual(logprobs.length, all.length)
      assert.isBelow(maxAbsDiff(logprobs.slice(2) as Array<number>, sequence.logprobs!), 1e-5)
      const forward = yield* awaitCall(client.forward([sequenceDatum(all)], "cross_entropy"))
      assert.isBelow(maxAbsDiff(logprobs.slice(1) as Array<number>, forward.loss_fn_outputs[0]!["logprobs"]!.data), 1e-5)
    }))

  it.effect("samples from a full training state too, frees nothing it should keep, and refuses bad requests", () =>
    Effect.gen(function*() {
      const { backend: b, client, sampler } = yield* trained
      const fromState = yield* b.createSamplingClient(yield* awaitCall(client.saveState("full")))
      const tensors = tf.memory().numTensors
      const greedy = yield* awaitCall(fromState.sample(fromInts([9, 8]), 1, params({ temperature: 0, max_tokens: 3 })))
      assert.deepStrictEqual(greedy.sequences[0]!.tokens, [7, 6, 5])
      assert.strictEqual(tf.memory().numTensors, tensors)

      const refusals = [
        [sampler.sample(fromInts([1]), 1, params({ stop: ["\n"] })), "give stop as token ids"],
        [sampler.sample(fromInts([1, 2, 3, 4, 5, 6, 7, 8, 9]), 1, params({})), "context length 8"],
        [sampler.sample(fromInts([1]), 0, params({})), "numSamples"],
        [sampler.sample(fromInts([1]), 1, params({ top_p: 0 })), "top_p"],
        [sampler.computeLogprobs(fromInts([])), "empty"],
        [sampler.computeLogprobs(fromInts([16])), "outside [0, 16)"],
        [b.createSamplingClient({ baseModel: "tiny" }), "no named base models"],
        [b.createSamplingClient({ _tag: "Remote", path: "tinker://r/sampler_weights/x" }), "from bytes"],
        [b.createSamplingClient({ _tag: "Bytes", bytes: new Uint8Array(4) }), "not a sous local state"]
      ] as const
      for (const [request, message] of refusals) {
        const error = yield* Effect.flip(request as Effect.Effect<unknown, { readonly _tag: string; readonly message: string }>)
        assert.strictEqual(error._tag, "InvalidRequestError")
        assert.include(error.message, message)
      }
    }))
})
