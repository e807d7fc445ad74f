import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { gelu, layerNorm } from "../../../src/adapters/local/fused-kernels.js"
import { initTfRuntime } from "../../../src/adapters/local/tf-runtime.js"
import { expectClose, valueAndGrads } from "../../support/gradient-check.js"

// The fused kernels against tfjs's autodiff of the plain formulas, on both backends they are
// registered for: same values, same gradients (up to float32 rounding).
const runtime = Effect.runPromise(initTfRuntime("wasm"))

const plainLayerNorm = (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => {
  const { mean, variance } = tf.moments(x, -1, true)
  return x.sub(mean).mul(tf.rsqrt(variance.add(1e-5))).mul(gamma).add(beta)
}

const plainGelu = (v: tf.Tensor) => v.mul(0.5).mul(tf.tanh(v.add(v.pow(3).mul(0.044715)).mul(Math.sqrt(2 / Math.PI))).add(1))

/** The number of kernels `f` runs. */
const kernelCount = async (f: () => tf.Tensor) => (await tf.profile(() => f())).kernels.length

describe.each(["wasm", "cpu"])("fused kernels on %s", (backend) => {
  const onBackend = async () => {
    await runtime
    await tf.setBackend(backend)
  }
  afterAll(() => tf.setBackend("wasm"))

  it("layerNorm: the formula's value and the gradients of x, gamma and beta, in one kernel each way", async () => {
    await onBackend()
    // Rows far from zero check that the variance is taken around the mean.
    const x = tf.randomNormal([3, 5, 24], 0, 1, "float32", 1).add(tf.tensor1d([0, 100, -3]).reshape([3, 1, 1]))
    const gamma = tf.randomNormal([24], 1, 0.5, "float32", 2)
    const beta = tf.randomNormal([24], 0, 1, "float32", 3)
    const fused = valueAndGrads((v, g, b) => layerNorm(v!, g!, b!, 1e-5), [x, gamma, beta])
    const plain = valueAndGrads(plainLayerNorm, [x, gamma, beta])
    expectClose([fused.value], [plain.value])
    fused.grads.forEach((grad, i) => expectClose(grad, plain.grads[i]!, 1e-4))
    expect(await kernelCount(() => layerNorm(x, gamma, beta, 1e-5))).toBe(1)
  })

  it("gelu: the tanh formula's value and gradient, at zero, near it and in both tails", async () => {
    await onBackend()
    const x = tf.concat([tf.tensor1d([0, -1e-3, 1e-3, -8, 8, -3, 3]), tf.randomNormal([200], 0, 2, "float32", 3)])
    const fused = valueAndGrads((v) => gelu(v!), [x])
    const plain = valueAndGrads(plainGelu, [x])
    expectClose([fused.value], [plain.value])
    expectClose(fused.grads[0]!, plain.grads[0]!)
    expect(await kernelCount(() => gelu(x))).toBe(1)
  })
})
