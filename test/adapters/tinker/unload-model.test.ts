import * as tf from "@tensorflow/tfjs"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { architecture, awaitResult, byteDatums, connect, serveLocal } from "./served-backend.js"

/** Waits until the engine holds `count` tensors, or gives up and returns what it holds. */
const tensorsSettleAt = (count: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < 100 && tf.memory().numTensors !== count; i++) yield* Effect.sleep(20)
    return tf.memory().numTensors
  })

// A long-lived `sous serve` trains one model per run it serves: each must be freed when its
// run is done, or the server's memory grows with every run.
describe("a model trained through sous serve", () => {
  it.live("is freed on the server when the client's scope closes (unload_model)", () =>
    Effect.scoped(Effect.gen(function*() {
      const served = yield* serveLocal()
      const backend = yield* connect(served.server)
      const before = tf.memory().numTensors
      yield* Effect.scoped(Effect.gen(function*() {
        const client = yield* backend.createTrainingClient({ baseModel: "bytes", architecture, seed: 1 })
        yield* awaitResult(client.forwardBackward(byteDatums(["free me"]), "cross_entropy"))
        yield* awaitResult(client.optimStep({ learning_rate: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0, grad_clip_norm: 0 }))
        // Weights, gradients and both AdamW moments are held while the client lives.
        assert.isAbove(tf.memory().numTensors, before)
      }))
      assert.strictEqual(yield* tensorsSettleAt(before), before)
      assert.strictEqual(served.log.filter((entry) => entry.path === "/api/v1/unload_model").length, 1)
    })))
})
