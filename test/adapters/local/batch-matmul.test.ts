import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { batchMatMul, biasedProduct } from "../../../src/adapters/local/batch-matmul.js"
import { initTfRuntime } from "../../../src/adapters/local/tf-runtime.js"
import { expectClose, valueAndGrads } from "../../support/gradient-check.js"

const runtime = Effect.runPromise(initTfRuntime("wasm"))

describe("batchMatMul (the SIMD kernel on tfjs-wasm's heap)", () => {
  it("gives tf.matMul's values and gradients, transposed either way, around its 4x8 tiles, 64-column blocks and 16-, 4- and 1-column tails", async () => {
    await runtime
    for (const [m, k, n] of [[3, 5, 1], [7, 2, 3], [44, 44, 16], [5, 9, 17], [2, 3, 21], [39, 16, 39], [1, 1, 4], [4, 3, 8], [9, 7, 75], [13, 5, 130]] as const) {
      for (const [transposeA, transposeB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
        const a = tf.randomNormal(transposeA ? [2, 3, k, m] : [2, 3, m, k], 0, 1, "float32", m * 7 + k)
        const b = tf.randomNormal(transposeB ? [2, 3, n, k] : [2, 3, k, n], 0, 1, "float32", n * 5 + k)
        const fast = valueAndGrads((x, y) => batchMatMul(x!, y!, transposeA, transposeB), [a, b])
        const plain = valueAndGrads((x, y) => tf.matMul(x!, y!, transposeA, transposeB), [a, b])
        expectClose([fast.value], [plain.value])
        fast.grads.forEach((grad, i) => expectClose(grad, plain.grads[i]!))
      }
    }
  })

  it("sums every element as XNNPACK does, bit for bit, whichever of the two multiplies a 2-D pair", async () => {
    await runtime
    // [2, 300] · [300, 300] goes to XNNPACK (few rows by a wide operand), and so does a right
    // operand over 16 MiB ([2048, 2049]); the others go to sous's kernel.
    for (const [m, k, n] of [[37, 19, 75], [64, 100, 128], [2, 300, 300], [4, 2048, 2049]] as const) {
      const a = tf.randomNormal([m, k], 0, 1, "float32", m + k)
      const b = tf.randomNormal([k, n], 0, 1, "float32", k + n)
      const xnnpack = Array.from(tf.matMul(a, b).dataSync())
      expect(Array.from(batchMatMul(a, b).dataSync())).toEqual(xnnpack)
      expect(Array.from(batchMatMul(a.transpose(), b, true).dataSync())).toEqual(xnnpack)
    }
  })

  it("starts each sum from the bias as XNNPACK's fused product does, the same bits, with a gradient for all three inputs", async () => {
    await runtime
    // Tiles, 16-, 4- and 1-column tails, rows past the last four, and one for XNNPACK.
    for (const [m, k, n] of [[9, 7, 75], [3, 5, 21], [8, 64, 261], [2, 300, 300]] as const) {
      const a = tf.randomNormal([m, k], 0, 1, "float32", m + k) as tf.Tensor2D
      const w = tf.randomNormal([k, n], 0, 1, "float32", k + n) as tf.Tensor2D
      const bias = tf.randomNormal([n], 0, 1, "float32", n)
      expect(Array.from(biasedProduct(a, w, bias).dataSync())).toEqual(Array.from(tf.fused.matMul({ a, b: w, bias }).dataSync()))
    }
    const a = tf.randomNormal([6, 5], 0, 1, "float32", 1)
    const w = tf.randomNormal([5, 11], 0, 1, "float32", 2)
    const bias = tf.randomNormal([11], 0, 1, "float32", 3)
    const fast = valueAndGrads((x, y, z) => biasedProduct(x as tf.Tensor2D, y as tf.Tensor2D, z!), [a, w, bias])
    const plain = valueAndGrads((x, y, z) => tf.matMul(x!, y!).add(z!), [a, w, bias])
    expectClose([fast.value], [plain.value])
    fast.grads.forEach((grad, i) => expectClose(grad, plain.grads[i]!))
  })

  it("runs as one kernel, and refuses shapes that do not multiply", async () => {
    await runtime
    const a = tf.ones([4, 6, 8])
    const b = tf.ones([4, 8, 5])
    const kernels = (await tf.profile(() => batchMatMul(a, b))).kernels.map((kernel) => kernel.name)
    expect(kernels).toEqual(["SousBatchMatMul"])
    expect(() => batchMatMul(a, tf.ones([4, 7, 5]))).toThrow(/cannot multiply \[4, 6, 8\] by \[4, 7, 5\]/)
    expect(() => batchMatMul(a, tf.ones([3, 8, 5]))).toThrow(/cannot multiply/)
  })
})
