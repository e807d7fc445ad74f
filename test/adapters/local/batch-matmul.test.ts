import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { batchMatMul } from "../../../src/adapters/local/batch-matmul.js"
import { initTfRuntime } from "../../../src/adapters/local/tf-runtime.js"
import { expectClose, valueAndGrads } from "../../support/gradient-check.js"

const runtime = Effect.runPromise(initTfRuntime("wasm"))

describe("batchMatMul (the SIMD kernel on tfjs-wasm's heap)", () => {
  it("gives tf.matMul's values and gradients, transposed either way, at widths around its 16- and 4-column paths", async () => {
    await runtime
    for (const [m, k, n] of [[3, 5, 1], [7, 2, 3], [44, 44, 16], [5, 9, 17], [2, 3, 21], [39, 16, 39], [1, 1, 4]] as const) {
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
