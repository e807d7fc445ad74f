import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { affine2d, matMul2d } from "../../../src/adapters/local/fast-ops.js"
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

  it("matMul2d: a gradient product only for the inputs asked for", async () => {
    await runtime
    const a = tf.randomNormal([37, 19], 0, 1, "float32", 1)
    const w = tf.randomNormal([19, 23], 0, 1, "float32", 2) as tf.Tensor2D
    // Product kernels run by one forward and backward pass of sum(f(...inputs)).
    const products = async (f: (...inputs: Array<tf.Tensor>) => tf.Tensor, inputs: Array<tf.Tensor>) =>
      (await tf.profile(() => {
        tf.grads((...xs: Array<tf.Tensor>) => f(...xs).sum())(inputs)
      })).kernels.filter((kernel) => kernel.name === "SousBatchMatMul").length
    // The forward product, then dy · wᵀ for the input alone: a frozen weight's aᵀ · dy is never made.
    expect(await products((x) => matMul2d(x as tf.Tensor2D, w), [a])).toBe(2)
    // The forward product, then aᵀ · dy for the weight alone: a model's input gets no dy · wᵀ.
    expect(await products((y) => matMul2d(a as tf.Tensor2D, y as tf.Tensor2D), [w])).toBe(2)
    expect(await products((x, y) => matMul2d(x as tf.Tensor2D, y as tf.Tensor2D), [a, w])).toBe(3)
    const frozen = valueAndGrads((x) => matMul2d(x as tf.Tensor2D, w), [a])
    const plain = valueAndGrads((x) => tf.matMul(x as tf.Tensor2D, w), [a])
    expectClose([frozen.value], [plain.value])
    expectClose(frozen.grads[0]!, plain.grads[0]!)
  })

  it("outside a gradient tape: the same values, the bias fused into the product", async () => {
    await runtime
    const a = tf.randomNormal([37, 19], 0, 1, "float32", 1) as tf.Tensor2D
    const w = tf.randomNormal([19, 23], 0, 1, "float32", 2) as tf.Tensor2D
    const bias = tf.randomNormal([23], 0, 1, "float32", 5)
    expectClose(Array.from(affine2d(a, w, bias).dataSync()), Array.from(tf.matMul(a, w).add(bias).dataSync()))
    const kernels = async (f: () => tf.Tensor) => (await tf.profile(f)).kernels.map((kernel) => kernel.name)
    expect(await kernels(() => affine2d(a, w, bias))).not.toContain("Add")
    expect(await kernels(() => matMul2d(a, w))).toEqual(["SousBatchMatMul"])
  })
})
