import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { affine2d, frozenMatMul, matMul2d } from "../../../src/adapters/local/fast-ops.js"
import { initTfRuntime } from "../../../src/adapters/local/tf-runtime.js"
import { expectClose, valueAndGrads } from "../../support/gradient-check.js"

// The ops with hand-written gradients against tfjs's autodiff of the plain formulas, on the
// wasm backend they are written for: same values, same gradients (up to float32 rounding).
const runtime = Effect.runPromise(initTfRuntime("wasm"))

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

  it("outside a gradient tape: the same values from plain kernels, the bias fused into the product", async () => {
    await runtime
    const a = tf.randomNormal([37, 19], 0, 1, "float32", 1) as tf.Tensor2D
    const w = tf.randomNormal([19, 23], 0, 1, "float32", 2) as tf.Tensor2D
    const bias = tf.randomNormal([23], 0, 1, "float32", 5)
    expectClose(Array.from(affine2d(a, w, bias).dataSync()), Array.from(tf.matMul(a, w).add(bias).dataSync()))
    const kernels = async (f: () => tf.Tensor) => (await tf.profile(f)).kernels.map((kernel) => kernel.name)
    expect(await kernels(() => affine2d(a, w, bias))).not.toContain("Add")
    expect(await kernels(() => matMul2d(a, w))).toEqual(["BatchMatMul"])
  })
})
