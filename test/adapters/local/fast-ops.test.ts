import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { embedRows, frozenMatMul, gelu, matMul2d } from "../../../src/adapters/local/fast-ops.js"
import { initTfRuntime } from "../../../src/adapters/local/tf-runtime.js"

// The ops with hand-written gradients against tfjs's autodiff of the plain formulas, on the
// wasm backend they are written for: same values, same gradients (up to float32 rounding).
const runtime = Effect.runPromise(initTfRuntime("wasm"))

/** Value and gradients of `sum(f(...) · weights)` with respect to each input. */
const valueAndGrads = (f: (...inputs: Array<tf.Tensor>) => tf.Tensor, inputs: Array<tf.Tensor>) =>
  tf.tidy(() => {
    const weights = tf.randomNormal(f(...inputs).shape, 0, 1, "float32", 7)
    const { value, grads } = tf.valueAndGrads((...xs: Array<tf.Tensor>) => f(...xs).mul(weights).sum())(inputs)
    return { value: value.arraySync() as number, grads: grads.map((grad) => Array.from(grad.dataSync())) }
  })

const expectClose = (actual: ReadonlyArray<number>, expected: ReadonlyArray<number>) => {
  expect(actual).toHaveLength(expected.length)
  const scale = Math.max(...expected.map(Math.abs))
  const worst = Math.max(...actual.map((value, i) => Math.abs(value - expected[i]!)))
  expect(worst).toBeLessThan(1e-5 * scale)
}

describe("fast ops (hand-written gradients for the wasm backend)", () => {
  it("matMul2d: tf.matMul's value and both gradients", async () => {
    await runtime
    const a = tf.randomNormal([37, 19], 0, 1, "float32", 1)
    const b = tf.randomNormal([19, 23], 0, 1, "float32", 2)
    const fast = valueAndGrads((x, y) => matMul2d(x as tf.Tensor2D, y as tf.Tensor2D), [a, b])
    const plain = valueAndGrads((x, y) => tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D), [a, b])
    expectClose([fast.value], [plain.value])
    fast.grads.forEach((grad, i) => expectClose(grad, plain.grads[i]!))
  })

  it("frozenMatMul: tf.matMul's value and its gradient to the input, none to the weight", async () => {
    await runtime
    const a = tf.randomNormal([37, 19], 0, 1, "float32", 1)
    const w = tf.randomNormal([19, 23], 0, 1, "float32", 2) as tf.Tensor2D
    const fast = valueAndGrads((x) => frozenMatMul(x as tf.Tensor2D, w), [a])
    const plain = valueAndGrads((x) => tf.matMul(x as tf.Tensor2D, w), [a])
    expectClose([fast.value], [plain.value])
    expectClose(fast.grads[0]!, plain.grads[0]!)
    // Asked for the weight's gradient too, tfjs finds no path to it.
    expect(() => valueAndGrads((x, y) => frozenMatMul(x as tf.Tensor2D, y as tf.Tensor2D), [a, w])).toThrow(/gradient/)
  })

  it("gelu: the tanh formula's value and gradient, at zero, near it and in both tails", async () => {
    await runtime
    const x = tf.concat([tf.tensor1d([0, -1e-3, 1e-3, -8, 8, -3, 3]), tf.randomNormal([200], 0, 2, "float32", 3)])
    const formula = (v: tf.Tensor) => v.mul(0.5).mul(tf.tanh(v.add(v.pow(3).mul(0.044715)).mul(Math.sqrt(2 / Math.PI))).add(1))
    const fast = valueAndGrads((v) => gelu(v), [x])
    const plain = valueAndGrads(formula, [x])
    expectClose([fast.value], [plain.value])
    expectClose(fast.grads[0]!, plain.grads[0]!)
  })

  it("embedRows: a one-hot product's value and gradient, repeated ids summed", async () => {
    await runtime
    const table = tf.randomNormal([11, 6], 0, 1, "float32", 4)
    const ids = tf.tensor1d([3, 0, 3, 10, 7, 3], "int32")
    const fast = valueAndGrads((t) => embedRows(t as tf.Tensor2D, ids), [table])
    const plain = valueAndGrads((t) => tf.matMul(tf.oneHot(ids, 11).toFloat(), t as tf.Tensor2D), [table])
    expectClose([fast.value], [plain.value])
    expectClose(fast.grads[0]!, plain.grads[0]!)
    // Rows no id names get no gradient.
    expect(fast.grads[0]!.slice(6, 12).every((value) => value === 0)).toBe(true)
  })
})
