import * as tf from "@tensorflow/tfjs"
import { type HeapTensors, hasKernel, registerArrayKernels, runOnArrays } from "./array-kernels.js"
import { fastTanh } from "./fast-tanh.js"
import { activationsWasm } from "./kernels/activations-wasm.js"
import { heapKernels } from "./wasm-heap.js"

// GELU and the loss's log-softmax at the targets, one kernel each way (see array-kernels.ts):
// on wasm in float32 SIMD (kernels/activations.wat), elsewhere in JavaScript.

const geluKernel = "SousGelu"
const geluGradKernel = "SousGeluGrad"
const targetLogprobsKernel = "SousTargetLogprobs"
const targetLogprobsGradKernel = "SousTargetLogprobsGrad"

const geluScale = Math.sqrt(2 / Math.PI)
const geluCubic = 0.044715

interface ActivationExports {
  readonly geluForward: (x: number, y: number, count: number) => void
  readonly geluBackward: (x: number, dy: number, dx: number, count: number) => void
  readonly softmaxParts: (z: number, rows: number, width: number, maxOut: number, sumOut: number, scratch: number) => void
  readonly scaledSoftmax: (z: number, scale: number, out: number, rows: number, width: number, scratch: number) => void
}

/** On wasm, kernels/activations.wat (SIMD, float32); GELU there runs the elements in whole vectors of 4. */
const activationsOn = heapKernels<ActivationExports>(activationsWasm)

/** The floats of scratch the softmax exports take a row's exps through, a block at a time. */
const softmaxBlock = 256

/** Where the JavaScript loop starts: after the elements SIMD takes on wasm, at 0 elsewhere. */
const afterVectors = (count: number, heap: HeapTensors | undefined): number => (heap === undefined ? 0 : count - (count % 4))

const geluTanh = (x: number): number => fastTanh(geluScale * (x + geluCubic * x * x * x))

// The gradient computes tanh u again rather than have the forward kernel output it: tfjs
// fills the gradient of an output nothing uses with zeros, which cost more.
const geluForward: tf.KernelFunc = ({ inputs, backend }) => {
  const { x } = inputs as Record<"x", tf.TensorInfo>
  return runOnArrays(backend, [x], [x.shape], ([xs], [y], heap) => {
    const from = afterVectors(xs!.length, heap)
    if (heap !== undefined) activationsOn(heap.backend).geluForward(heap.inputs[0]!, heap.outputs[0]!, from)
    for (let i = from; i < xs!.length; i++) y![i] = 0.5 * xs![i]! * (1 + geluTanh(xs![i]!))
  })[0]!
}

// dy/dx = (1 + tanh u)/2 + x/2 · (1 − tanh² u) · c·(1 + 3·0.044715·x²), u = c·(x + 0.044715·x³).
const geluBackward: tf.KernelFunc = ({ inputs, backend }) => {
  const { x, dy } = inputs as Record<"x" | "dy", tf.TensorInfo>
  return runOnArrays(backend, [x, dy], [x.shape], ([xs, dys], [dx], heap) => {
    const from = afterVectors(xs!.length, heap)
    if (heap !== undefined) activationsOn(heap.backend).geluBackward(heap.inputs[0]!, heap.inputs[1]!, heap.outputs[0]!, from)
    for (let i = from; i < xs!.length; i++) {
      const v = xs![i]!
      const t = geluTanh(v)
      dx![i] = dys![i]! * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * geluScale * (1 + 3 * geluCubic * v * v))
    }
  })[0]!
}

/** A row's maximum and its sum of exp(z − max), in JavaScript (where no SIMD kernel runs). */
const softmaxParts = (z: Float32Array, offset: number, width: number): readonly [number, number] => {
  let max = -Infinity
  for (let j = 0; j < width; j++) max = Math.max(max, z[offset + j]!)
  let sum = 0
  for (let j = 0; j < width; j++) sum += Math.exp(z[offset + j]! - max)
  return [max, sum]
}

/** Row `r`'s target id, checked against the row's width (a bad id would read another row). */
const targetId = (ids: ArrayLike<number>, r: number, width: number): number => {
  const id = ids[r]!
  if (!(id >= 0 && id < width)) throw new Error(`target id ${id} is outside [0, ${width})`)
  return id
}

// log p(target) of each row of logits: z[t] − max − log Σ exp(z − max). Its gradient for a
// row is dy · (onehot(t) − softmax(z)).
const targetLogprobsForward: tf.KernelFunc = ({ inputs, backend }) => {
  const { logits, targets } = inputs as Record<"logits" | "targets", tf.TensorInfo>
  const width = logits.shape[logits.shape.length - 1]!
  const rows = tf.util.sizeFromShape(targets.shape)
  return runOnArrays(backend, [logits, targets], [targets.shape], ([z, ids], [out, maxes, sums], heap) => {
    if (heap !== undefined) activationsOn(heap.backend).softmaxParts(heap.inputs[0]!, rows, width, heap.outputs[1]!, heap.outputs[2]!, heap.outputs[3]!)
    for (let r = 0; r < rows; r++) {
      const offset = r * width
      if (heap === undefined) [maxes![r], sums![r]] = softmaxParts(z!, offset, width)
      out![r] = z![offset + targetId(ids!, r, width)]! - maxes![r]! - Math.log(sums![r]!)
    }
  }, [rows, rows, softmaxBlock])[0]!
}

const targetLogprobsBackward: tf.KernelFunc = ({ inputs, backend }) => {
  const { logits, targets, dy } = inputs as Record<"logits" | "targets" | "dy", tf.TensorInfo>
  const width = logits.shape[logits.shape.length - 1]!
  const rows = tf.util.sizeFromShape(targets.shape)
  return runOnArrays(backend, [logits, targets, dy], [logits.shape], ([z, ids, dys], [dz, scales], heap) => {
    for (let r = 0; r < rows; r++) scales![r] = -dys![r]!
    if (heap !== undefined) activationsOn(heap.backend).scaledSoftmax(heap.inputs[0]!, heap.outputs[1]!, heap.outputs[0]!, rows, width, heap.outputs[2]!)
    for (let r = 0; r < rows; r++) {
      const offset = r * width
      if (heap === undefined) {
        const [max, sum] = softmaxParts(z!, offset, width)
        for (let j = 0; j < width; j++) dz![offset + j] = scales![r]! * Math.exp(z![offset + j]! - max) / sum
      }
      dz![offset + targetId(ids!, r, width)] += dys![r]!
    }
  }, [rows, softmaxBlock])[0]!
}

registerArrayKernels({
  [geluKernel]: geluForward,
  [geluGradKernel]: geluBackward,
  [targetLogprobsKernel]: targetLogprobsForward,
  [targetLogprobsGradKernel]: targetLogprobsBackward
})

tf.registerGradient({
  kernelName: geluKernel,
  inputsToSave: ["x"],
  gradFunc: (dy, saved) => ({
    x: () => tf.engine().runKernel(geluGradKernel, { x: saved[0]!, dy: dy as tf.Tensor }) as tf.Tensor
  })
})

tf.registerGradient({
  kernelName: targetLogprobsKernel,
  inputsToSave: ["logits", "targets"],
  gradFunc: (dy, saved) => {
    const [logits, targets] = saved as [tf.Tensor, tf.Tensor]
    return {
      logits: () => tf.engine().runKernel(targetLogprobsGradKernel, { logits, targets, dy: dy as tf.Tensor }) as tf.Tensor,
      // Token ids have no gradient; the engine asks only for the logits'.
      targets: () => tf.zerosLike(targets)
    }
  }
})

/** GELU, tanh approximation (GPT-2's): y = x/2 · (1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export const gelu = (x: tf.Tensor): tf.Tensor => {
  if (hasKernel(geluKernel)) return tf.engine().runKernel(geluKernel, { x }) as tf.Tensor
  return x.mul(tf.tanh(x.add(x.pow(3).mul(geluCubic)).mul(geluScale)).add(1)).mul(0.5)
}

/**
 * log p(target) [...rows] under logits [...rows, classes] (log-softmax over the last axis),
 * for int32 `targets` [...rows] below `classes`. One kernel each way on wasm and cpu; on other
 * backends a one-hot mask (tfjs has no gradient for gather there).
 */
export const targetLogprobs = <R extends tf.Rank>(logits: tf.Tensor, targets: tf.Tensor<R>): tf.Tensor<R> => {
  if (hasKernel(targetLogprobsKernel)) return tf.engine().runKernel(targetLogprobsKernel, { logits, targets }) as tf.Tensor<R>
  const mask = tf.oneHot(targets, logits.shape[logits.shape.length - 1]!).toFloat()
  return tf.logSoftmax(logits).mul(mask).sum(-1)
}
