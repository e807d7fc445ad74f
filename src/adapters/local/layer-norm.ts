import * as tf from "@tensorflow/tfjs"
import { type HeapTensors, hasKernel, registerArrayKernels, runOnArrays } from "./array-kernels.js"
import { layerNormWasm } from "./kernels/layer-norm-wasm.js"
import { heapKernels } from "./wasm-heap.js"

// Layer norm in one kernel each way (see array-kernels.ts): on wasm, rows a multiple of 4 wide
// in float32 SIMD (kernels/layer-norm.wat); elsewhere in JavaScript, in float64, rounded once
// where a value is stored.

interface LayerNormExports {
  readonly layerNormForward: (x: number, gamma: number, beta: number, y: number, rows: number, width: number, eps: number) => void
  readonly layerNormBackward: (
    x: number, gamma: number, dy: number, dx: number, dgamma: number, dbeta: number, rows: number, width: number, eps: number
  ) => void
}

const layerNormOn = heapKernels<LayerNormExports>(layerNormWasm)

/** The wasm kernels, where they take these rows: on the heap, whole vectors wide. */
const simdFor = (heap: HeapTensors | undefined, width: number) =>
  heap !== undefined && width % 4 === 0 ? { heap, kernels: layerNormOn(heap.backend) } : undefined

const layerNormKernel = "SousLayerNorm"
const layerNormGradKernel = "SousLayerNormGrad"

/** Mean and 1/√(variance + eps) of `width` values of `x` from `offset` (two passes, float64). */
const rowStats = (x: Float32Array, offset: number, width: number, eps: number): readonly [number, number] => {
  let sum = 0
  for (let j = 0; j < width; j++) sum += x[offset + j]!
  const mean = sum / width
  let squares = 0
  for (let j = 0; j < width; j++) {
    const centred = x[offset + j]! - mean
    squares += centred * centred
  }
  return [mean, 1 / Math.sqrt(squares / width + eps)]
}

const layerNormForward: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, gamma, beta } = inputs as Record<"x" | "gamma" | "beta", tf.TensorInfo>
  const eps = attrs!["eps"] as number
  const width = x.shape[x.shape.length - 1]!
  return runOnArrays(backend, [x, gamma, beta], [x.shape], ([xs, g, b], [y], heap) => {
    const simd = simdFor(heap, width)
    if (simd !== undefined) {
      const [xAt, gammaAt, betaAt] = simd.heap.inputs
      return simd.kernels.layerNormForward(xAt!, gammaAt!, betaAt!, simd.heap.outputs[0]!, xs!.length / width, width, eps)
    }
    for (let offset = 0; offset < xs!.length; offset += width) {
      const [mean, rstd] = rowStats(xs!, offset, width, eps)
      for (let j = 0; j < width; j++) y![offset + j] = (xs![offset + j]! - mean) * rstd * g![j]! + b![j]!
    }
  })[0]!
}

// With x̂ = (x − mean)·rstd and g = dy·γ, the input gradient of a row is
// rstd · (g − mean(g) − x̂ · mean(g·x̂)); γ's gradient sums dy·x̂ over rows and β's sums dy.
const layerNormBackward: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, gamma, dy } = inputs as Record<"x" | "gamma" | "dy", tf.TensorInfo>
  const eps = attrs!["eps"] as number
  const width = x.shape[x.shape.length - 1]!
  return runOnArrays(backend, [x, gamma, dy], [x.shape, [width], [width]], ([xs, g, dys], [dx, dg, db], heap) => {
    const simd = simdFor(heap, width)
    if (simd !== undefined) {
      // The kernel adds each row into γ's and β's gradients.
      dg!.fill(0)
      db!.fill(0)
      const [xAt, gammaAt, dyAt] = simd.heap.inputs
      const [dxAt, dgAt, dbAt] = simd.heap.outputs
      return simd.kernels.layerNormBackward(xAt!, gammaAt!, dyAt!, dxAt!, dgAt!, dbAt!, xs!.length / width, width, eps)
    }
    const gammaSums = new Float64Array(width)
    const betaSums = new Float64Array(width)
    for (let offset = 0; offset < xs!.length; offset += width) {
      const [mean, rstd] = rowStats(xs!, offset, width, eps)
      let sumG = 0
      let sumGx = 0
      for (let j = 0; j < width; j++) {
        const d = dys![offset + j]!
        const normed = (xs![offset + j]! - mean) * rstd
        const scaled = d * g![j]!
        sumG += scaled
        sumGx += scaled * normed
        gammaSums[j] += d * normed
        betaSums[j] += d
      }
      const meanG = sumG / width
      const meanGx = sumGx / width
      for (let j = 0; j < width; j++) {
        const normed = (xs![offset + j]! - mean) * rstd
        dx![offset + j] = rstd * (dys![offset + j]! * g![j]! - meanG - normed * meanGx)
      }
    }
    dg!.set(gammaSums)
    db!.set(betaSums)
  })
}

registerArrayKernels({ [layerNormKernel]: layerNormForward, [layerNormGradKernel]: layerNormBackward })

tf.registerGradient({
  kernelName: layerNormKernel,
  inputsToSave: ["x", "gamma"],
  gradFunc: (dy, saved, attrs) => {
    const [x, gamma] = saved as [tf.Tensor, tf.Tensor]
    // One kernel makes all three gradients, here rather than in the functions below: the engine
    // runs each of those in its own tidy scope, which would free the other two. One that no
    // input asks for (a frozen gamma) is freed with the backward pass's scope.
    const [dx, dgamma, dbeta] = tf.engine().runKernel(
      layerNormGradKernel,
      { x, gamma, dy: dy as tf.Tensor },
      attrs as tf.NamedAttrMap
    ) as Array<tf.Tensor>
    return { x: () => dx!, gamma: () => dgamma!, beta: () => dbeta! }
  }
})

/** LayerNorm over the last axis with `gamma` and `beta` [width] (biased variance, as torch). */
export const layerNorm = (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor => {
  if (hasKernel(layerNormKernel)) return tf.engine().runKernel(layerNormKernel, { x, gamma, beta }, { eps }) as tf.Tensor
  const { mean, variance } = tf.moments(x, -1, true)
  return x.sub(mean).mul(tf.rsqrt(variance.add(eps))).mul(gamma).add(beta)
}
