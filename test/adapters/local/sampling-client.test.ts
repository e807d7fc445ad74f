import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect, Schema } from "effect"
import { makeLocalBackend } from "../../../src/adapters/local/local-backend.js"
import { makeLocalSamplingClient } from "../../../src/adapters/local/local-sampling-client.js"
import { decodeState } from "../../../src/adapters/local/state-codec.js"
import { makeByteTokenizer } from "../../../src/adapters/tokenizers/byte-tokenizer.js"
import { adamParams, fromFloats, fromInts, SamplingParams } from "../../../src/ports/index.js"
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

// The tiny model's ids 0..15 are bytes to the byte tokenizer: the memorised 1, 2, 3, ... spell "\x01\x02\x03...".
const bytes = makeByteTokenizer()

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
      // The context (8) leaves room for one token after a 7-token prompt.
      const full = yield* awaitCall(sampler.sample(fromInts([1, 2, 3, 4, 5, 6, 7]), 1, params({ temperature: 0, max_tokens: 5 })))
      assert.deepStrictEqual(full.sequences[0]!.tokens, [8])
      assert.strictEqual(full.sequences[0]!.stop_reason, "length")
    }))

  it.effect("samples greedily with top_k 1 or a tiny top_p, token for token", () =>
    Effect.gen(function*() {
      const { sampler } = yield* trained
      // Prompts off the memorised sequences too, where the next token is far from certain.
      for (const prompt of [[1, 2, 3], [5, 2], [0], [11, 13, 15]]) {
        const greedy = yield* awaitCall(sampler.sample(fromInts(prompt), 1, params({ temperature: 0, max_tokens: 6 })))
        const expected = greedy.sequences[0]!
        for (const [seed, sampling] of [
          [3, { temperature: 1, top_k: 1 }],
          [4, { temperature: 1, top_p: 1e-6 }],
          [5, { temperature: 1.5, top_k: 4, top_p: 1e-6 }]
        ] as const) {
          const drawn = yield* awaitCall(sampler.sample(fromInts(prompt), 3, params({ ...sampling, max_tokens: 6, seed })))
          for (const sequence of drawn.sequences) {
            assert.deepStrictEqual(sequence.tokens, expected.tokens)
            assert.strictEqual(sequence.stop_reason, expected.stop_reason)
            // At temperature 1 the reported logprobs are the model's own, as greedy reports them.
            if (sampling.temperature === 1) assert.deepStrictEqual(sequence.logprobs, expected.logprobs)
          }
        }
      }
    }))

  it.effect("repeats a seeded sample across calls and across clients of the same weights", () =>
    Effect.gen(function*() {
      const { backend: b, sampler, weights } = yield* trained
      const twin = yield* b.createSamplingClient(weights)
      const prompt = fromInts([5, 2])
      const sampling = params({ temperature: 1, max_tokens: 6, seed: 11 })
      const first = yield* awaitCall(sampler.sample(prompt, 3, sampling))
      assert.deepStrictEqual(yield* awaitCall(sampler.sample(prompt, 3, sampling)), first)
      assert.deepStrictEqual(yield* awaitCall(twin.sample(prompt, 3, sampling)), first)
      const reseeded = yield* awaitCall(sampler.sample(prompt, 3, { ...sampling, seed: 12 }))
      assert.notDeepEqual(reseeded, first)
    }))

  it.effect("reports the logprobs of sampled tokens that the trainer's forward and computeLogprobs compute", () =>
    Effect.gen(function*() {
      const { client, sampler } = yield* trained
      const prompt = [5, 2]
      const drawn = yield* awaitCall(sampler.sample(fromInts(prompt), 4, params({ temperature: 1, max_tokens: 6, seed: 21 })))
      const sequences = drawn.sequences.map((s) => [...prompt, ...s.tokens])
      const forward = yield* awaitCall(client.forward(sequences.map((s) => sequenceDatum(s)), "cross_entropy"))
      for (const [i, sequence] of drawn.sequences.entries()) {
        // Target i of the datum is token i + 1 of the sequence: the sampled tokens are the
        // targets from the last prompt position on.
        const trainer = Array.from(forward.loss_fn_outputs[i]!["logprobs"]!.data).slice(prompt.length - 1)
        assert.isBelow(maxAbsDiff(sequence.logprobs!, trainer), 1e-4)
        const scored = yield* awaitCall(sampler.computeLogprobs(fromInts(sequences[i]!)))
        assert.strictEqual(scored[0], null)
        assert.isBelow(maxAbsDiff(scored.slice(prompt.length) as Array<number>, sequence.logprobs!), 1e-5)
      }
    }))

  it.effect("scores a batch of prompts of different lengths as one call each would, over several passes", () =>
    Effect.gen(function*() {
      const { sampler } = yield* trained
      // 1,200 prompts of up to 8 tokens: more than one pass of 8,192 positions.
      const prompts = Array.from({ length: 1200 }, (_, i) => Array.from({ length: 1 + (i % 8) }, (_, j) => (i * 7 + j * 3) % 16))
      const batch = yield* awaitCall(sampler.computeLogprobsBatch(prompts.map((prompt) => fromInts(prompt))))
      assert.strictEqual(batch.length, prompts.length)
      for (const i of [0, 1, 7, 599, 1023, 1024, 1199]) {
        const single = yield* awaitCall(sampler.computeLogprobs(fromInts(prompts[i]!)))
        assert.strictEqual(batch[i]!.length, prompts[i]!.length)
        assert.strictEqual(batch[i]![0], null)
        assert.deepStrictEqual(batch[i], single)
      }
      const refused = yield* Effect.flip(sampler.computeLogprobsBatch([fromInts([1, 2]), fromInts([1, 99])]))
      assert.include(refused.message, "prompt 1")
    }))

  it.effect("ends a sequence at the token whose text completes a stop string, in the continuation only", () =>
    Effect.gen(function*() {
      const { sampler, weights } = yield* trained
      if (weights._tag !== "Bytes") return assert.fail("the local backend saves bytes")
      const texts = yield* makeLocalSamplingClient(decodeState(weights.bytes), yield* Effect.scope, { decode: bytes.decode })
      const prompt = fromInts([1, 2, 3])
      const greedy = (stop: string | ReadonlyArray<string>) =>
        Effect.map(awaitCall(texts.sample(prompt, 2, params({ temperature: 0, max_tokens: 5, stop }))), (r) => r.sequences)

      for (const [stop, tokens] of [["\x05\x06", [4, 5, 6]], [["\x0f", "\x07"], [4, 5, 6, 7]], ["\x04", [4]]] as const) {
        for (const sequence of yield* greedy(stop)) {
          assert.deepStrictEqual(sequence.tokens, tokens)
          assert.strictEqual(sequence.stop_reason, "stop")
          assert.strictEqual(sequence.logprobs!.length, tokens.length)
          // The stop string ends at the last token and not before it.
          const found = (typeof stop === "string" ? [stop] : stop).filter((s) => bytes.decode(sequence.tokens).endsWith(s))
          assert.strictEqual(found.length, 1)
          assert.notInclude(bytes.decode(sequence.tokens.slice(0, -1)), found[0]!)
        }
      }
      // Text never produced, in the prompt alone, or across prompt and continuation ends nothing.
      for (const stop of ["\x0f", "\x02", "\x03\x04", ["\x08\x09", "\x01\x02"]]) {
        for (const sequence of yield* greedy(stop)) {
          assert.deepStrictEqual(sequence.tokens, [4, 5, 6, 7, 8])
          assert.strictEqual(sequence.stop_reason, "length")
        }
      }
      // Sampled sequences stop right after their first stop string, or hold none.
      const drawn = yield* awaitCall(texts.sample(fromInts([5, 2]), 8, params({ max_tokens: 6, seed: 2, stop: ["\x01", "\x07"] })))
      for (const sequence of drawn.sequences) {
        const text = bytes.decode(sequence.tokens)
        const stopped = text.endsWith("\x01") || text.endsWith("\x07")
        assert.strictEqual(sequence.stop_reason, stopped ? "stop" : "length")
        assert.notMatch(stopped ? text.slice(0, -1) : text, /[\x01\x07]/)
      }
      assert.isTrue(drawn.sequences.some((s) => s.stop_reason === "stop"))

      // The memorised sampler was made without a tokenizer.
      const error = yield* Effect.flip(sampler.sample(prompt, 1, params({ stop: "\x05" })))
      assert.strictEqual(error._tag, "InvalidRequestError")
      assert.include(error.message, "give stop as token ids")
    }))

  it.effect("holds the tensor count flat over many calls", () =>
    Effect.gen(function*() {
      const { sampler } = yield* trained
      const tensors = tf.memory().numTensors
      for (let call = 0; call < 200; call++) {
        const prompt = fromInts([call % 16, (call * 7) % 16])
        const sampling = params({ temperature: call % 3, top_k: call % 5 === 0 ? 3 : -1, max_tokens: 1 + (call % 4), seed: call })
        yield* awaitCall(sampler.sample(prompt, 1 + (call % 3), sampling))
        yield* awaitCall(sampler.computeLogprobs(fromInts([call % 16, 3, (call * 5) % 16])))
      }
      assert.strictEqual(tf.memory().numTensors, tensors)
    }))

  it.effect("samples from a full training state too, frees nothing it should keep, and refuses bad requests", () =>
    Effect.gen(function*() {
      const { backend: b, client, sampler, weights } = yield* trained
      const fromState = yield* b.createSamplingClient(yield* awaitCall(client.saveState("full")))
      const tensors = tf.memory().numTensors
      const greedy = yield* awaitCall(fromState.sample(fromInts([9, 8]), 1, params({ temperature: 0, max_tokens: 3 })))
      assert.deepStrictEqual(greedy.sequences[0]!.tokens, [7, 6, 5])
      assert.strictEqual(tf.memory().numTensors, tensors)

      if (weights._tag !== "Bytes") return assert.fail("the local backend saves bytes")
      const texts = yield* makeLocalSamplingClient(decodeState(weights.bytes), yield* Effect.scope, { decode: bytes.decode })
      const image = fromFloats([0.5, 0.25], [2])
      const refusals = [
        [sampler.sample(fromInts([1]), 1, params({ stop: ["\n"] })), "give stop as token ids"],
        [texts.sample(fromInts([1]), 1, params({ stop: ["\n", ""] })), "must not be empty"],
        [sampler.sample(fromInts([1, 2, 3, 4, 5, 6, 7, 8, 9]), 1, params({})), "context length 8"],
        [sampler.sample(fromInts([1]), 0, params({})), "numSamples"],
        [sampler.sample(fromInts([1]), 1, params({ top_p: 0 })), "top_p"],
        // Settings built in code skip the schema's integer checks.
        [sampler.sample(fromInts([1]), 1, { ...params({}), top_k: 1.5 }), "top_k must be an integer"],
        [sampler.sample(fromInts([1]), 1, { ...params({}), max_tokens: 2.5 }), "max_tokens must be an integer >= 0"],
        [sampler.sample(fromInts([1]), 1, { ...params({}), max_tokens: -1 }), "max_tokens must be an integer >= 0"],
        [sampler.sample(image, 1, params({})), "float_tensor chunk"],
        [sampler.computeLogprobs(image), "float_tensor chunk"],
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
