import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { initTfRuntime } from "../../../src/adapters/local/tf-runtime.js"

describe("initTfRuntime", () => {
  it.effect("says how to install tfjs-node-gpu, falls back to wasm on auto, leaves process listeners alone, then keeps its choice", () =>
    Effect.gen(function*() {
      const listeners = () => [process.listenerCount("uncaughtException"), process.listenerCount("unhandledRejection")]
      const listenersBefore = listeners()
      // Neither tfjs-node-gpu nor tfjs-node is installed on the test machines.
      const gpu = yield* Effect.flip(initTfRuntime("gpu"))
      assert.strictEqual(gpu._tag, "BackendUnavailableError")
      assert.include(gpu.message, "@tensorflow/tfjs-node-gpu not installed")
      assert.include(gpu.message, "npm install @tensorflow/tfjs-node-gpu")

      const auto = yield* initTfRuntime("auto")
      assert.strictEqual(auto.backend, "wasm")
      assert.strictEqual(auto.device, "wasm (SIMD, 1 thread)")
      assert.include(auto.reason, "@tensorflow/tfjs-node not installed")
      assert.strictEqual(tf.getBackend(), "wasm")
      // The wasm module's rethrowing process listeners were taken off again.
      assert.deepStrictEqual(listeners(), listenersBefore)

      assert.deepStrictEqual(yield* initTfRuntime("wasm"), auto)
      assert.deepStrictEqual(yield* initTfRuntime("auto"), auto)
      const cpu = yield* Effect.flip(initTfRuntime("cpu"))
      assert.include(cpu.message, "already runs wasm (SIMD, 1 thread)")
    }))
})
