import { assert, describe, it } from "@effect/vitest"
import { Effect, type Scope } from "effect"
import { localBackendLayer } from "../../../src/adapters/local/local-backend.js"
import { type BackendUnavailableError, fromInts, TrainingBackend, type TrainingCallError } from "../../../src/ports/index.js"
import { awaitCall, tinyArchitecture } from "./fixtures.js"

const mlp = { kind: "mlp", inputShape: [4], hidden: [8], classes: 3 } as const

describe("localBackendLayer", () => {
  it.effect("reports honest capabilities and refuses what it cannot build", () =>
    Effect.gen(function*() {
      const backend = yield* TrainingBackend
      assert.deepStrictEqual(yield* backend.capabilities, {
        backend: "local",
        device: "wasm (SIMD, 1 thread)",
        deviceReason: "wasm was asked for",
        losses: ["cross_entropy", "importance_sampling", "ppo", "cispo", "dro"],
        maxLoraRank: 128,
        customLoss: true,
        sampling: true,
        durableCheckpoints: false
      })
      const refuses = Effect.fnUntraced(function*(create: Effect.Effect<unknown, TrainingCallError | BackendUnavailableError, Scope.Scope>, message: string) {
        const error = yield* Effect.flip(create)
        assert.strictEqual(error._tag, "InvalidRequestError")
        assert.include(error.message, message)
      })
      yield* refuses(backend.createTrainingClient({ baseModel: "tiny", seed: 1 }), "architecture")
      yield* refuses(
        backend.createTrainingClient({ baseModel: "tiny", architecture: tinyArchitecture, seed: 1, lora: { rank: 129 } }),
        "lora.rank must be an integer in [1, 128], got 129"
      )
      yield* refuses(
        backend.createTrainingClient({ baseModel: "mlp", architecture: mlp, seed: 1, lora: { rank: 4 } }),
        "LoRA adapts transformer models, not mlp models"
      )
      yield* refuses(
        backend.createTrainingClient({
          baseModel: "tiny",
          architecture: tinyArchitecture,
          seed: 1,
          lora: { rank: 4, trainAttn: false, trainMlp: false, trainUnembed: false }
        }),
        "lora trains nothing"
      )
      yield* refuses(
        backend.createTrainingClient({ baseModel: "tiny", architecture: { ...tinyArchitecture, heads: 5 }, seed: 1 }),
        "divisible"
      )
      yield* refuses(
        backend.createTrainingClient({ baseModel: "mlp", architecture: { ...mlp, hidden: [8, 0] }, seed: 1 }),
        "hidden[1] must be a positive integer, got 0"
      )
      yield* refuses(backend.createSamplingClient({ baseModel: "tiny" }), "no named base models")
      // A base model to sample from is built from its architecture, checked as for training.
      yield* refuses(
        backend.createSamplingClient({ baseModel: "tiny", architecture: { ...tinyArchitecture, heads: 5 }, seed: 1 }),
        "divisible"
      )
      yield* refuses(
        backend.createSamplingClient({ baseModel: "tiny", architecture: { ...tinyArchitecture, layers: 1.5 }, seed: 1 }),
        "layers must be a positive integer, got 1.5"
      )
      const client = yield* backend.createTrainingClient({ baseModel: "tiny", architecture: tinyArchitecture, seed: 1 })
      // A base model of the local backend is the seeded initialisation of an architecture.
      const prompt = fromInts([1, 2, 3, 4, 5])
      const fromBase = yield* backend.createSamplingClient({ baseModel: "tiny", architecture: tinyArchitecture, seed: 1 })
      const fromClient = yield* backend.createSamplingClient(yield* awaitCall(client.saveWeightsForSampler("fresh")))
      assert.deepStrictEqual(
        yield* awaitCall(fromBase.computeLogprobs(prompt)),
        yield* awaitCall(fromClient.computeLogprobs(prompt))
      )
      const info = yield* client.info
      assert.strictEqual(info.modelId, "local-1")
      assert.strictEqual(info.baseModel, "tiny")
      assert.strictEqual(info.device, "wasm (SIMD, 1 thread)")
      assert.isAbove(info.parameterCount, 0)
    }).pipe(Effect.provide(localBackendLayer({ device: "wasm" }))))
})
