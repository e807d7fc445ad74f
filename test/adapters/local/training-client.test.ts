import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect, Exit, Scope } from "effect"
import { makeLocalBackend } from "../../../src/adapters/local/local-backend.js"
import { decodeState } from "../../../src/adapters/local/state-codec.js"
import { joinPieces } from "../../../src/stages/checkpoints/checkpoint-store.js"
import {
  adamParams,
  type Datum,
  float32,
  fromFloats,
  fromInts,
  int64,
  type LossFnConfig,
  type LossFnType
} from "../../../src/ports/index.js"
import {
  awaitCall,
  bytesOf,
  everyLoss,
  fixedBatch,
  maxAbsDiff,
  sequenceDatum,
  tinyArchitecture,
  tinyClient,
  weightBytes,
  weightValues
} from "./fixtures.js"

const backend = makeLocalBackend({ device: "wasm" })
const adam = adamParams({ learning_rate: 1e-2 })

describe("LocalTrainingClient", () => {
  it.effect("learns a fixed batch: the loss falls by more than half in 50 steps", () =>
    Effect.gen(function*() {
      const client = yield* tinyClient(yield* backend, 7)
      const losses: Array<number> = []
      for (let step = 0; step < 50; step++) {
        const fb = yield* client.forwardBackward(fixedBatch, "cross_entropy")
        const opt = yield* client.optimStep(adam)
        losses.push((yield* fb.result).metrics["loss:sum"]!)
        yield* opt.result
      }
      assert.isBelow(losses[49]!, losses[0]! * 0.5)
    }))

  it.effect("accumulates gradients: two halves then a step equal the whole batch then a step", () =>
    Effect.gen(function*() {
      const b = yield* backend
      const halves = yield* tinyClient(b, 3)
      const whole = yield* tinyClient(b, 3)
      const initial = yield* weightValues(whole)

      const first = yield* awaitCall(halves.forwardBackward(fixedBatch.slice(0, 2), "cross_entropy"))
      const second = yield* awaitCall(halves.forwardBackward(fixedBatch.slice(2), "cross_entropy"))
      yield* awaitCall(halves.optimStep(adam))
      const all = yield* awaitCall(whole.forwardBackward(fixedBatch, "cross_entropy"))
      yield* awaitCall(whole.optimStep(adam))

      const a = yield* weightValues(halves)
      const w = yield* weightValues(whole)
      assert.isAbove(maxAbsDiff(w, initial), 1e-3, "the step changed the weights")
      assert.isBelow(maxAbsDiff(a, w), 1e-6)
      const summed = first.metrics["loss:sum"]! + second.metrics["loss:sum"]!
      assert.closeTo(summed, all.metrics["loss:sum"]!, 1e-5 * summed)
      assert.strictEqual(first.metrics["weights:sum"]! + second.metrics["weights:sum"]!, 26)
      assert.strictEqual(all.metrics["weights:sum"], 26)
    }))

  it.effect("runs calls in submission order: a step queued before awaiting forward/backward applies after it", () =>
    Effect.gen(function*() {
      const b = yield* backend
      const queued = yield* tinyClient(b, 4)
      const fb = yield* queued.forwardBackward(fixedBatch, "cross_entropy")
      const step = yield* queued.optimStep(adam)
      const after = yield* queued.forward(fixedBatch, "cross_entropy")
      const saved = yield* queued.saveState("after-one-step")
      // Await in reverse order: each result still reflects its place in the queue.
      const state = decodeState(bytesOf(yield* saved.result))
      const afterLoss = (yield* after.result).metrics["loss:sum"]!
      const stepMetrics = (yield* step.result).metrics
      const beforeLoss = (yield* fb.result).metrics["loss:sum"]!

      const sequential = yield* tinyClient(b, 4)
      const expectedBefore = (yield* awaitCall(sequential.forwardBackward(fixedBatch, "cross_entropy"))).metrics
      yield* awaitCall(sequential.optimStep(adam))
      const expectedAfter = (yield* awaitCall(sequential.forward(fixedBatch, "cross_entropy"))).metrics

      assert.strictEqual(state.header.step, 1)
      assert.strictEqual(beforeLoss, expectedBefore["loss:sum"])
      assert.strictEqual(afterLoss, expectedAfter["loss:sum"])
      assert.isBelow(afterLoss, beforeLoss)
      assert.isAbove(stepMetrics["grad_norm:mean"]!, 0)
      assert.strictEqual(stepMetrics["learning_rate:mean"], 1e-2)
    }))

  it.effect("forward returns what forwardBackward returns and leaves the accumulated gradients alone", () =>
    Effect.gen(function*() {
      const b = yield* backend
      const probed = yield* tinyClient(b, 17)
      const plain = yield* tinyClient(b, 17)
      const policyBatch = fixedBatch.map((datum) => ({
        ...datum,
        loss_fn_inputs: {
          ...datum.loss_fn_inputs,
          logprobs: float32(datum.loss_fn_inputs["weights"]!.data.map(() => -2.5)),
          advantages: float32(datum.loss_fn_inputs["weights"]!.data.map((_, t) => t % 2 === 0 ? 1 : -0.5))
        }
      }))
      const forward = yield* awaitCall(probed.forward(policyBatch, "ppo"))
      const backward = yield* awaitCall(probed.forwardBackward(policyBatch, "ppo"))
      assert.deepStrictEqual(forward, backward)
      // A forward between forward/backward and the step changes nothing the step applies.
      yield* awaitCall(probed.forward(fixedBatch, "cross_entropy"))
      yield* awaitCall(probed.optimStep(adam))
      yield* awaitCall(plain.forwardBackward(policyBatch, "ppo"))
      yield* awaitCall(plain.optimStep(adam))
      assert.deepStrictEqual(yield* weightBytes(probed), yield* weightBytes(plain))
    }))

  it.effect("pads a batch without changing the results of its shorter sequences", () =>
    Effect.gen(function*() {
      const client = yield* tinyClient(yield* backend, 5)
      const short = sequenceDatum([4, 2, 9])
      const alone = yield* awaitCall(client.forward([short], "cross_entropy"))
      const padded = yield* awaitCall(client.forward([short, fixedBatch[0]!], "cross_entropy"))
      const aloneLogprobs = alone.loss_fn_outputs[0]!["logprobs"]!.data
      const paddedLogprobs = padded.loss_fn_outputs[0]!["logprobs"]!.data
      assert.strictEqual(aloneLogprobs.length, 2)
      assert.strictEqual(paddedLogprobs.length, 2)
      assert.strictEqual(padded.loss_fn_outputs[1]!["logprobs"]!.data.length, 8)
      assert.isBelow(maxAbsDiff(aloneLogprobs, paddedLogprobs), 1e-6)
    }))

  it.effect("rejects bad requests with an InvalidRequestError before any compute", () =>
    Effect.gen(function*() {
      const client = yield* tinyClient(yield* backend, 6)
      const good = fixedBatch[0]!
      const withInputs = (patch: Partial<Datum["loss_fn_inputs"]>, drop?: string): Datum => {
        const inputs: Record<string, Datum["loss_fn_inputs"][string]> = { ...good.loss_fn_inputs }
        for (const [key, value] of Object.entries(patch)) if (value !== undefined) inputs[key] = value
        if (drop !== undefined) delete inputs[drop]
        return { model_input: good.model_input, loss_fn_inputs: inputs }
      }
      const cases: ReadonlyArray<readonly [ReadonlyArray<Datum>, string]> = [
        [[good, withInputs({}, "target_tokens")], "datum 1: loss_fn_inputs.target_tokens is missing"],
        [[good, withInputs({}, "weights")], "datum 1: loss_fn_inputs.weights is missing"],
        [[withInputs({ target_tokens: float32([2, 3, 4, 5, 6, 7, 8, 9]) })], "datum 0: loss_fn_inputs.target_tokens must be int64"],
        [[withInputs({ weights: float32([1, 1, 1]) })], "datum 0: loss_fn_inputs.weights has 3 values, model_input has 8 positions"],
        [[withInputs({ weights: { data: [1, 1, 1, 1, 1, 1, 1, 1], dtype: "float32", shape: [2, 4] } })], "must be 1-D"],
        [[withInputs({ target_tokens: int64([2, 3, 4, 5, 6, 7, 8, 16]) })], "target_tokens holds a token id outside [0, 16)"],
        [[withInputs({ weights: float32([1, 1, 1, Number.NaN, 1, 1, 1, 1]) })], "weights holds a value that is not finite"],
        [[good, good, sequenceDatum([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])], "datum 2: model_input has 9 tokens, more than the model's context length 8"],
        // Too many tokens to spread into one call's arguments: counted, never gathered.
        [[sequenceDatum(Array.from({ length: 300_001 }, () => 1))], "datum 0: model_input has 300000 tokens, more than"],
        [[{ model_input: fromInts([]), loss_fn_inputs: {} }], "datum 0: model_input is empty"],
        [[{ model_input: fromFloats([1, 2], [2]), loss_fn_inputs: good.loss_fn_inputs }], "datum 0: model_input holds a float_tensor chunk; a transformer reads encoded_text"],
        [[], "no datums"]
      ]
      const tensorsBefore = tf.memory().numTensors
      for (const [data, message] of cases) {
        const error = yield* Effect.flip(client.forwardBackward(data, "cross_entropy"))
        assert.strictEqual(error._tag, "InvalidRequestError")
        assert.include(error.message, message)
      }
      const policyCases: ReadonlyArray<readonly [LossFnType, LossFnConfig, string]> = [
        ["ppo", {}, "datum 0: loss_fn_inputs.logprobs is missing"],
        ["ppo", { clip_low: 0.9 }, "loss_fn_config.clip_low: not a setting of ppo (it takes clip_low_threshold, clip_high_threshold)"],
        ["cispo", { clip_low_threshold: 2, clip_high_threshold: 1 }, "clip thresholds must satisfy"],
        ["dro", {}, "loss_fn_config.beta is required by dro"],
        ["cross_entropy", { beta: 1 }, "loss_fn_config.beta: cross_entropy takes no settings"],
        ["constructor" as LossFnType, {}, 'unknown loss "constructor"']
      ]
      for (const [lossFn, config, message] of policyCases) {
        const error = yield* Effect.flip(client.forwardBackward(fixedBatch, lossFn, config))
        assert.include(error.message, message)
      }
      const adamCases: ReadonlyArray<readonly [Partial<typeof adam>, string]> = [
        [{ beta1: 1 }, "beta1"],
        // eps 0 divides 0 by 0 at every weight whose gradient is zero.
        [{ eps: 0 }, "eps must be > 0"],
        [{ learning_rate: Number.POSITIVE_INFINITY }, "learning_rate must be finite and >= 0"],
        [{ learning_rate: -1e-3 }, "learning_rate must be finite and >= 0"]
      ]
      for (const [patch, message] of adamCases) {
        const error = yield* Effect.flip(client.optimStep({ ...adam, ...patch }))
        assert.strictEqual(error._tag, "InvalidRequestError")
        assert.include(error.message, message)
      }
      // Nothing was queued or computed: no tensor was made and the weights are untouched.
      assert.strictEqual(tf.memory().numTensors, tensorsBefore)
      const fresh = yield* tinyClient(yield* backend, 6)
      assert.deepStrictEqual(yield* weightBytes(client), yield* weightBytes(fresh))
    }))

  it.effect("refuses a classifier input that is not finite, naming the datum", () =>
    Effect.gen(function*() {
      const client = yield* (yield* backend).createTrainingClient({
        baseModel: "mlp",
        architecture: { kind: "mlp", inputShape: [2, 2], hidden: [4], classes: 3 },
        seed: 1
      })
      const image = (pixels: ReadonlyArray<number>): Datum => ({
        model_input: fromFloats(pixels, [2, 2]),
        loss_fn_inputs: { target_tokens: int64([1]), weights: float32([1]) }
      })
      const good = image([0, 0.5, 1, 0.25])
      for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
        const error = yield* Effect.flip(client.forwardBackward([good, image([0, bad, 1, 0.25])], "cross_entropy"))
        assert.strictEqual(error._tag, "InvalidRequestError")
        assert.include(error.message, "datum 1: model_input float_tensor holds a value that is not finite")
      }
    }))

  it.effect("saves and loads state bit-exactly, optimizer included", () =>
    Effect.gen(function*() {
      const b = yield* backend
      const original = yield* tinyClient(b, 11)
      for (let step = 0; step < 2; step++) {
        yield* awaitCall(original.forwardBackward(fixedBatch, "cross_entropy"))
        yield* awaitCall(original.optimStep(adam))
      }
      const saved = yield* awaitCall(original.saveState("checkpoint"))
      yield* awaitCall(original.forwardBackward(fixedBatch, "cross_entropy"))
      yield* awaitCall(original.optimStep(adam))
      const continued = yield* weightBytes(original)

      const restored = yield* tinyClient(b, 99)
      yield* awaitCall(restored.loadState(saved, { optimizer: true }))
      assert.deepStrictEqual(bytesOf(yield* awaitCall(restored.saveState("checkpoint"))), bytesOf(saved))
      yield* awaitCall(restored.forwardBackward(fixedBatch, "cross_entropy"))
      yield* awaitCall(restored.optimStep(adam))
      assert.deepStrictEqual(yield* weightBytes(restored), continued)

      // Weights only: the optimizer starts afresh, so the next step differs.
      const weightsOnly = yield* tinyClient(b, 99)
      yield* awaitCall(weightsOnly.loadState(saved, { optimizer: false }))
      yield* awaitCall(weightsOnly.forwardBackward(fixedBatch, "cross_entropy"))
      yield* awaitCall(weightsOnly.optimStep(adam))
      assert.notDeepEqual(yield* weightBytes(weightsOnly), continued)
    }))

  it.effect("lends its state as pieces of saveState's bytes, and runs no later call until the scope closes", () =>
    Effect.gen(function*() {
      const client = yield* tinyClient(yield* backend, 13)
      yield* awaitCall(client.forwardBackward(fixedBatch, "cross_entropy"))
      yield* awaitCall(client.optimStep(adam))
      const saved = bytesOf(yield* awaitCall(client.saveState("lent")))
      const scope = yield* Scope.make()
      const pieces = yield* client.lendState!("lent").pipe(Scope.provide(scope))
      assert.deepStrictEqual(joinPieces(pieces), saved)
      // A step submitted during the loan waits for it: the moments lent as they lie hold still.
      const pass = yield* Effect.forkChild(awaitCall(client.forwardBackward(fixedBatch, "cross_entropy")))
      const step = yield* client.optimStep(adam)
      for (let i = 0; i < 50; i++) yield* Effect.yieldNow
      assert.isUndefined(pass.pollUnsafe())
      assert.deepStrictEqual(joinPieces(pieces), saved)
      yield* Scope.close(scope, Exit.void)
      yield* step.result
      // The next loan reuses the staging memory and holds the stepped state.
      const after = yield* Effect.scoped(Effect.map(client.lendState!("lent"), joinPieces))
      assert.deepStrictEqual(after, bytesOf(yield* awaitCall(client.saveState("lent"))))
      assert.notDeepEqual(after, saved)
    }))

  it.effect("refuses states it cannot load", () =>
    Effect.gen(function*() {
      const b = yield* backend
      const client = yield* tinyClient(b, 12)
      const state = yield* awaitCall(client.saveState("s"))
      const sampler = yield* awaitCall(client.saveWeightsForSampler("w"))
      const wider = yield* b.createTrainingClient({
        baseModel: "wider",
        architecture: { ...tinyArchitecture, width: 32 },
        seed: 1
      })
      const refusals: ReadonlyArray<readonly [Effect.Effect<unknown, { readonly message: string; readonly _tag: string }>, string]> = [
        [wider.loadState(state, { optimizer: true }), "architecture"],
        [client.loadState(sampler, { optimizer: true }), "weights only"],
        [client.loadState({ _tag: "Bytes", bytes: new Uint8Array([1, 2, 3]) }, { optimizer: false }), "not a sous local state"],
        [client.loadState({ _tag: "Remote", path: "tinker://x/weights/y" }, { optimizer: false }), "from bytes"]
      ]
      for (const [load, message] of refusals) {
        const error = yield* Effect.flip(load)
        assert.strictEqual(error._tag, "InvalidRequestError")
        assert.include(error.message, message)
      }
      // Weights-only bytes load fine when the optimizer is not asked for.
      yield* awaitCall(client.loadState(sampler, { optimizer: false }))
    }))

  it.effect("is deterministic: same seed and data give bit-identical weights", () =>
    Effect.gen(function*() {
      const b = yield* backend
      const train = Effect.fnUntraced(function*(seed: number) {
        const client = yield* tinyClient(b, seed)
        for (let step = 0; step < 3; step++) {
          yield* awaitCall(client.forwardBackward(fixedBatch, "cross_entropy"))
          yield* awaitCall(client.optimStep(adamParams({ learning_rate: 1e-2, weight_decay: 0.1, grad_clip_norm: 1 })))
        }
        return yield* weightBytes(client)
      })
      const first = yield* train(21)
      assert.deepStrictEqual(yield* train(21), first)
      assert.notDeepEqual(yield* train(22), first)
    }))

  it.effect("keeps the number of live tensors flat over 200 steps of every loss, full and LoRA", () =>
    Effect.gen(function*() {
      const b = yield* backend
      // Policy inputs for every datum: sampler logprobs and advantages of its length.
      const policyBatch = fixedBatch.map((datum) => {
        const n = datum.loss_fn_inputs["target_tokens"]!.data.length
        return {
          ...datum,
          loss_fn_inputs: {
            ...datum.loss_fn_inputs,
            logprobs: float32(Array.from({ length: n }, (_, t) => -2 - 0.1 * t)),
            advantages: float32(Array.from({ length: n }, (_, t) => (t % 3) - 1))
          }
        }
      })
      const full = yield* tinyClient(b, 13)
      const lora = yield* b.createTrainingClient({ baseModel: "tiny", architecture: tinyArchitecture, seed: 13, lora: { rank: 2 } })
      for (const client of [full, lora]) {
        const step = (i: number) =>
          Effect.gen(function*() {
            const [lossFn, config] = everyLoss[i % everyLoss.length]!
            yield* awaitCall(client.forwardBackward(policyBatch, lossFn, config))
            yield* awaitCall(client.optimStep(adamParams({ learning_rate: 1e-3, grad_clip_norm: 1, weight_decay: 0.01 })))
          })
        yield* step(0)
        const tensors = tf.memory().numTensors
        for (let i = 0; i < 200; i++) {
          yield* step(i)
          if (i % 25 === 0) {
            yield* awaitCall(client.forward(policyBatch, "ppo"))
            yield* awaitCall(client.loadState(yield* awaitCall(client.saveState("s")), { optimizer: true }))
            yield* awaitCall(client.saveWeightsForSampler("w"))
          }
        }
        assert.strictEqual(tf.memory().numTensors, tensors)
      }
    }))
})
