import * as tf from "@tensorflow/tfjs"
import { expect } from "vitest"

/** Value and gradients of `sum(f(...) · weights)` with respect to each input, for random fixed weights. */
export const valueAndGrads = (f: (...inputs: Array<tf.Tensor>) => tf.Tensor, inputs: Array<tf.Tensor>) =>
  tf.tidy(() => {
    const weights = tf.randomNormal(f(...inputs).shape, 0, 1, "float32", 7)
    const { value, grads } = tf.valueAndGrads((...xs: Array<tf.Tensor>) => f(...xs).mul(weights).sum())(inputs)
    return { value: value.arraySync() as number, grads: grads.map((grad) => Array.from(grad.dataSync())) }
  })

/** `actual` equals `expected` within `tolerance` of the largest expected magnitude. */
export const expectClose = (actual: ReadonlyArray<number>, expected: ReadonlyArray<number>, tolerance = 1e-5) => {
  expect(actual).toHaveLength(expected.length)
  const scale = Math.max(...expected.map(Math.abs))
  const worst = Math.max(...actual.map((value, i) => Math.abs(value - expected[i]!)))
  expect(worst).toBeLessThan(tolerance * scale)
}
