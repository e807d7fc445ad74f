import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { makeLocalBackend } from "../../../src/adapters/local/local-backend.js"

const backend = makeLocalBackend({ device: "wasm" })

/** Where the wasm backend keeps a tensor's values in its heap. */
const offsetOf = (tensor: tf.Tensor): number =>
  (tf.backend() as unknown as { dataIdMap: { get(id: tf.DataId): { memoryOffset: number } } }).dataIdMap.get(tensor.dataId).memoryOffset

describe("the wasm backend's Identity kernel", () => {
  it.effect("shares the input's buffer, which lives until its last tensor is freed", () =>
    Effect.gen(function*() {
      yield* backend
      assert.strictEqual(tf.getBackend(), "wasm")
      const x = tf.tensor1d([1, 2, 3])
      const copy = tf.clone(x)
      assert.strictEqual(offsetOf(copy), offsetOf(x))
      x.dispose()
      // Another allocation of the same size must not land on the buffer the clone still reads.
      const other = tf.tensor1d([7, 8, 9])
      assert.deepStrictEqual(Array.from(copy.dataSync()), [1, 2, 3])
      tf.dispose([copy, other])
    }))

  it.effect("keeps what a gradient saved as it was, though the variable is assigned anew", () =>
    Effect.gen(function*() {
      yield* backend
      const w = tf.variable(tf.tensor2d([[1, 2], [3, 4]]))
      const x = tf.tensor2d([[1, 1]])
      // d/dx sum(x·w) = row sums of w, saved (as a clone) in the forward pass.
      const { value, grads } = tf.valueAndGrads((input: tf.Tensor) => {
        const product = tf.matMul(input as tf.Tensor2D, w)
        w.assign(tf.zerosLike(w))
        return product.sum()
      })([x])
      assert.deepStrictEqual(Array.from(value.dataSync()), [10])
      assert.deepStrictEqual(Array.from(grads[0]!.dataSync()), [3, 7])
      tf.dispose([value, ...grads, x, w])
    }))
})
