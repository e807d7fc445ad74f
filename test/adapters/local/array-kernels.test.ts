import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { gelu, targetLogprobs } from "../../../src/adapters/local/activation-kernels.js"
import { embedRows } from "../../../src/adapters/local/gather-rows.js"
import { layerNorm } from "../../../src/adapters/local/layer-norm.js"
import { initTfRuntime } from "../../../src/adapters/local/tf-runtime.js"
import { expectClose, valueAndGrads } from "../../support/gradient-check.js"

// sous's array kernels (layer-norm.ts, activation-kernels.ts, gather-rows.ts) against tfjs's
// autodiff of the plain formulas, on both backends they are registered for: same values, same
// gradients (up to float32 rounding).
const runtime = Effect.runPromise(initTfRuntime("wasm"))

const plainLayerNorm = (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => {
  const { mean, variance } = tf.moments(x, -1, true)
  return x.sub(mean).mul(tf.rsqrt(variance.add(1e-5))).mul(gamma).add(beta)
}

const plainGelu = (v: tf.Tensor) => v.mul(0.5).mul(tf.tanh(v.add(v.pow(3).mul(0.044715)).mul(Math.sqrt(2 / Math.PI))).add(1))

/** The number of kernels `f` runs. */
const kernelCount = async (f: () => tf.Tensor) => (await tf.profile(() => f())).kernels.length

describe.each(["wasm", "cpu"])("array kernels on %s", (backend) => {
  const onBackend = async () => {
    await runtime
    await tf.setBackend(backend)
  }
  afterAll(() => tf.setBackend("wasm"))

  it("layerNorm: the formula's value and the gradients of x, gamma and beta, in one kernel each way", async () => {
    await onBackend()
    // Widths of whole vectors (SIMD on wasm) and not (JavaScript everywhere).
    for (const width of [24, 6]) {
      // Rows far from zero check that the variance is taken around the mean.
      const x = tf.randomNormal([3, 5, width], 0, 1, "float32", 1).add(tf.tensor1d([0, 100, -3]).reshape([3, 1, 1]))
      const gamma = tf.randomNormal([width], 1, 0.5, "float32", 2)
      const beta = tf.randomNormal([width], 0, 1, "float32", 3)
      const fused = valueAndGrads((v, g, b) => layerNorm(v!, g!, b!, 1e-5), [x, gamma, beta])
      const plain = valueAndGrads(plainLayerNorm, [x, gamma, beta])
      expectClose([fused.value], [plain.value])
      fused.grads.forEach((grad, i) => expectClose(grad, plain.grads[i]!, 1e-4))
      expect(await kernelCount(() => layerNorm(x, gamma, beta, 1e-5))).toBe(1)
    }
  })

  it("gelu: the tanh formula's value and gradient, at zero, near it and in both tails", async () => {
    await onBackend()
    // 1,007 values: the wasm kernel's blocks of 256, then three for JavaScript.
    const x = tf.concat([tf.tensor1d([0, -1e-3, 1e-3, -8, 8, -3, 3]), tf.randomNormal([1000], 0, 2, "float32", 3)])
    const fused = valueAndGrads((v) => gelu(v!), [x])
    const plain = valueAndGrads(plainGelu, [x])
    expectClose([fused.value], [plain.value])
    expectClose(fused.grads[0]!, plain.grads[0]!)
    expect(await kernelCount(() => gelu(x))).toBe(1)
  })

  it("targetLogprobs: log-softmax at the targets, and its gradient, for rows of any width", async () => {
    await onBackend()
    // Rows narrower than a vector, not whole vectors, and longer than the wasm kernel's blocks of 256.
    for (const classes of [261, 7, 4, 3, 600]) {
      // Far-apart logits check the maximum is taken out before exp.
      const logits = tf.randomNormal([2, 9, classes], 0, 3, "float32", classes).add(tf.tensor1d([0, 80]).reshape([2, 1, 1]))
      const targets = tf.tensor2d(Array.from({ length: 18 }, (_, i) => (i * 37) % classes), [2, 9], "int32")
      const plain = (z: tf.Tensor) => tf.logSoftmax(z).mul(tf.oneHot(targets, classes).toFloat()).sum(-1)
      const fused = valueAndGrads((z) => targetLogprobs(z!, targets), [logits])
      const expected = valueAndGrads(plain, [logits])
      expectClose([fused.value], [expected.value])
      expectClose(fused.grads[0]!, expected.grads[0]!)
      expectClose(Array.from(targetLogprobs(logits, targets).dataSync()), Array.from(plain(logits).dataSync()))
    }
    expect(await kernelCount(() => targetLogprobs(tf.zeros([3, 5]), tf.tensor1d([0, 1, 4], "int32")))).toBe(1)
    expect(() => targetLogprobs(tf.zeros([2, 5]), tf.tensor1d([0, 5], "int32"))).toThrow(/target id 5 is outside \[0, 5\)/)
  })

  it("embedRows: the rows ids name, and a gradient that sums the rows of repeated ids", async () => {
    await onBackend()
    const table = tf.randomNormal([11, 6], 0, 1, "float32", 4)
    const ids = tf.tensor1d([3, 0, 3, 10, 7, 3], "int32")
    const fused = valueAndGrads((t) => embedRows(t as tf.Tensor2D, ids), [table])
    const plain = valueAndGrads((t) => tf.matMul(tf.oneHot(ids, 11).toFloat(), t as tf.Tensor2D), [table])
    expectClose([fused.value], [plain.value])
    expectClose(fused.grads[0]!, plain.grads[0]!)
    // Rows no id names get no gradient.
    expect(fused.grads[0]!.slice(6, 12).every((value) => value === 0)).toBe(true)
    expect(await kernelCount(() => embedRows(table as tf.Tensor2D, ids))).toBe(1)
    expect(() => embedRows(table as tf.Tensor2D, tf.tensor1d([11], "int32"))).toThrow(/row id 11 is outside a table of 11 rows/)
  })
})

describe("array kernels on wasm, inputs still on another backend", () => {
  it("moves them into the heap before making its views (a move may grow the heap)", async () => {
    await runtime
    // Made on cpu, 4 MiB each: moving them into the wasm heap during the kernel grows it.
    await tf.setBackend("cpu")
    const width = 1 << 20
    const gamma = tf.ones([width])
    const beta = tf.fill([width], 5)
    await tf.setBackend("wasm")
    const x = tf.range(0, width).reshape([1, width])
    const y = layerNorm(x, gamma, beta, 1e-5).dataSync()
    // (x − mean)/std + 5 for x = 0 … width − 1: from 5 − √3 to 5 + √3.
    expect(y[0]).toBeCloseTo(5 - Math.sqrt(3), 3)
    expect(y[width - 1]).toBeCloseTo(5 + Math.sqrt(3), 3)
    tf.dispose([gamma, beta, x])
  })
})
