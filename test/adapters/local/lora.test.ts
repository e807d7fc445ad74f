import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { lossRequest } from "../../../src/adapters/local/datum-batch.js"
import { makeLocalBackend } from "../../../src/adapters/local/local-backend.js"
import { createTrainer, disposeTrainer, forwardBackwardPass, optimizerStep } from "../../../src/adapters/local/local-trainer.js"
import { decodeState } from "../../../src/adapters/local/state-codec.js"
import { adamParams, type LoraConfig, type TrainingBackend } from "../../../src/ports/index.js"
import { awaitCall, bytesOf, fixedBatch, maxAbsDiff, tinyArchitecture, tinyClient, weightBytes } from "./fixtures.js"

const backend = makeLocalBackend({ device: "wasm" })
const adam = adamParams({ learning_rate: 1e-2 })
const lora: LoraConfig = { rank: 4, alpha: 8 }

const loraClient = (b: TrainingBackend["Service"], seed: number, config: LoraConfig = lora) =>
  b.createTrainingClient({ baseModel: "tiny", architecture: tinyArchitecture, seed, lora: config })

/** Trains a client a few steps on the fixed batch. */
const train = Effect.fnUntraced(function*(client: Effect.Success<ReturnType<typeof loraClient>>, steps: number) {
  const losses: Array<number> = []
  for (let step = 0; step < steps; step++) {
    const fb = yield* client.forwardBackward(fixedBatch, "cross_entropy")
    const opt = yield* client.optimStep(adam)
    losses.push((yield* fb.result).metrics["loss:sum"]!)
    yield* opt.result
  }
  return losses
})

/** Per-datum logprobs of the fixed batch, flattened. */
const logprobsOf = (client: Effect.Success<ReturnType<typeof loraClient>>) =>
  Effect.map(
    awaitCall(client.forward(fixedBatch, "cross_entropy")),
    (out) => out.loss_fn_outputs.flatMap((o) => o["logprobs"]!.data)
  )

describe("LoRA on the local backend", () => {
  it.effect("changes only the adapters: the base weights stay bit-identical while the loss falls", () =>
    Effect.gen(function*() {
      yield* backend
      const trainer = createTrainer(tinyArchitecture, 4, { rank: 4, alpha: 8, trainAttn: true, trainMlp: true, trainUnembed: true })
      try {
        const snapshot = (vars: ReadonlyMap<string, tf.Variable>) => [...vars].map(([name, v]) => [name, Array.from(v.dataSync())] as const)
        const baseBefore = snapshot(trainer.model.variables)
        const adaptersBefore = snapshot(trainer.lora!.variables)
        const request = yield* lossRequest("test", tinyArchitecture, fixedBatch, "cross_entropy", {})
        const losses: Array<number> = []
        for (let step = 0; step < 30; step++) {
          losses.push(forwardBackwardPass(trainer, request).loss)
          optimizerStep(trainer, adam)
        }
        assert.deepStrictEqual(snapshot(trainer.model.variables), baseBefore)
        // Every adapter moved (A and B of each target).
        snapshot(trainer.lora!.variables).forEach(([name, values], i) =>
          assert.isAbove(maxAbsDiff(values, adaptersBefore[i]![1]), 0, `${name} changed`)
        )
        assert.isBelow(losses.at(-1)!, losses[0]! * 0.7)
        // The optimizer holds moments for the adapters alone.
        assert.deepStrictEqual([...trainer.optimizer.m.keys()], [...trainer.lora!.variables.keys()])
        assert.lengthOf(trainer.lora!.targets, 2 * 6 + 1)
      } finally {
        disposeTrainer(trainer)
      }
    }))

  it.effect("gives the same outputs merged and unmerged, within 1e-5", () =>
    Effect.gen(function*() {
      const b = yield* backend
      const adapted = yield* loraClient(b, 5)
      yield* train(adapted, 20)
      const merged = yield* tinyClient(b, 99)
      yield* awaitCall(merged.loadState(yield* awaitCall(adapted.saveWeightsForSampler("merged")), { optimizer: false }))
      const unmergedLogprobs = yield* logprobsOf(adapted)
      const mergedLogprobs = yield* logprobsOf(merged)
      const fresh = yield* logprobsOf(yield* loraClient(b, 5))
      assert.isAbove(maxAbsDiff(unmergedLogprobs, fresh), 1e-2, "training moved the adapted model")
      assert.isBelow(maxAbsDiff(unmergedLogprobs, mergedLogprobs), 1e-5)
      // The sampler reads the merged weights too.
      const sampler = yield* b.createSamplingClient(yield* awaitCall(adapted.saveWeightsForSampler("sampler")))
      const prompt = fixedBatch[0]!.model_input
      const computed = yield* awaitCall(sampler.computeLogprobs(prompt))
      const tokens = prompt.chunks[0]!.type === "encoded_text" ? prompt.chunks[0]!.tokens : []
      const viaForward = yield* awaitCall(merged.forward([{
        model_input: { chunks: [{ type: "encoded_text", tokens: tokens.slice(0, -1) }] },
        loss_fn_inputs: {
          target_tokens: { data: tokens.slice(1), dtype: "int64" },
          weights: { data: tokens.slice(1).map(() => 1), dtype: "float32" }
        }
      }], "cross_entropy"))
      assert.isBelow(maxAbsDiff(computed.slice(1) as Array<number>, viaForward.loss_fn_outputs[0]!["logprobs"]!.data), 1e-4)
    }))

  it.effect("saves adapters alone and restores them exactly, refusing another base or other settings", () =>
    Effect.gen(function*() {
      const b = yield* backend
      const original = yield* loraClient(b, 6)
      yield* train(original, 5)
      const state = yield* awaitCall(original.saveState("adapters"))
      const header = decodeState(bytesOf(state)).header
      assert.deepStrictEqual(header.lora && { ...header.lora, baseDigest: "" }, {
        rank: 4, alpha: 8, trainAttn: true, trainMlp: true, trainUnembed: true, baseDigest: ""
      })
      assert.isTrue(header.tensors.every((t) => /^(lora|adam_m|adam_v)\//.test(t.name)))
      // A fraction of a full state: adapters and their moments only.
      const full = yield* awaitCall((yield* tinyClient(b, 6)).saveState("full"))
      assert.isBelow(bytesOf(state).length, bytesOf(full).length / 2)

      const restored = yield* loraClient(b, 6)
      yield* awaitCall(restored.loadState(state, { optimizer: true }))
      yield* train(original, 5)
      yield* train(restored, 5)
      assert.deepStrictEqual(yield* weightBytes(restored), yield* weightBytes(original))

      const refused = Effect.fnUntraced(function*(client: Effect.Success<ReturnType<typeof loraClient>>, message: string) {
        const error = yield* Effect.flip(awaitCall(client.loadState(state, { optimizer: true })))
        assert.strictEqual(error._tag, "InvalidRequestError")
        assert.include(error.message, message)
      })
      yield* refused(yield* tinyClient(b, 6), "holds LoRA adapters; load it into a LoRA client")
      yield* refused(yield* loraClient(b, 7), "trained on other base weights")
      yield* refused(yield* loraClient(b, 6, { rank: 2, alpha: 8 }), "holds adapters of")
    }))

  it.effect("checks a queued load of adapters against the base it will meet, not the base at submission", () =>
    Effect.gen(function*() {
      const b = yield* backend
      // Adapters trained on a base loaded from seed 8's full weights, not on a seeded base.
      const base = yield* awaitCall((yield* tinyClient(b, 8)).saveWeightsForSampler("base"))
      const otherBase = yield* awaitCall((yield* tinyClient(b, 10)).saveWeightsForSampler("other"))
      const trainedOn = yield* loraClient(b, 9)
      yield* awaitCall(trainedOn.loadState(base, { optimizer: false }))
      yield* train(trainedOn, 3)
      const adapters = yield* awaitCall(trainedOn.saveState("adapters"))

      // Queued behind the load of their base: accepted, though the base at submission is seed 11's.
      const client = yield* loraClient(b, 11)
      const loadBase = yield* client.loadState(base, { optimizer: false })
      const loadAdapters = yield* client.loadState(adapters, { optimizer: true })
      yield* loadBase.result
      yield* loadAdapters.result
      assert.deepStrictEqual(yield* weightBytes(client), yield* weightBytes(trainedOn))

      // Queued behind the load of another base: refused, though the base at submission is theirs.
      const swapBase = yield* client.loadState(otherBase, { optimizer: false })
      const refused = yield* client.loadState(adapters, { optimizer: true })
      yield* swapBase.result
      const error = yield* Effect.flip(refused.result)
      assert.strictEqual(error._tag, "InvalidRequestError")
      assert.include(error.message, "trained on other base weights")
    }))

  it.effect("loads full weights as the frozen base, with adapters that add nothing until trained", () =>
    Effect.gen(function*() {
      const b = yield* backend
      const donor = yield* tinyClient(b, 8)
      yield* train(donor, 5)
      const weights = yield* awaitCall(donor.saveWeightsForSampler("base"))
      const adapted = yield* loraClient(b, 9)
      yield* train(adapted, 3)
      yield* awaitCall(adapted.loadState(weights, { optimizer: false }))
      assert.isBelow(maxAbsDiff(yield* logprobsOf(adapted), yield* logprobsOf(donor)), 1e-6)
      const error = yield* Effect.flip(awaitCall(adapted.loadState(yield* awaitCall(donor.saveState("full")), { optimizer: true })))
      assert.include(error.message, "load into a LoRA client as its base, without optimizer state")
      // Rank 4 over width 16: per layer 4 attention projections 16→16 and the MLP's 16→64, 64→16;
      // then the unembedding 16→16. An adapter over in→out has 4·(in + out) weights.
      const adapter = (inWidth: number, outWidth: number) => 4 * (inWidth + outWidth)
      const perLayer = 4 * adapter(16, 16) + adapter(16, 64) + adapter(64, 16)
      assert.strictEqual((yield* adapted.info).parameterCount, 2 * perLayer + adapter(16, 16))
    }))
})
