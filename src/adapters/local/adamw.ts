import * as tf from "@tensorflow/tfjs"
import type { AdamParams } from "../../ports/index.js"
import { adamwWasm } from "./kernels/adamw-wasm.js"
import { filledFloat32Tensor, withFloat32Values } from "./tensor-memory.js"
import { ownMemoryKernel } from "./wasm-heap.js"

/**
 * The whole AdamW state, explicit so it can be saved and restored bit for bit: the first
 * and second moments of every parameter (by parameter name) and the number of steps taken.
 *
 * The moments are float32 arrays in JavaScript memory, not tensors. tfjs-wasm's heap cannot
 * grow past 4 GiB, and the moments are twice the trained weights: a fully trained 135M-weight
 * model with them in the heap left too little room for its gradients and activations. Their
 * update is elementwise, which a plain loop does in one pass with no temporaries.
 */
export interface AdamWState {
  readonly m: ReadonlyMap<string, Float32Array>
  readonly v: ReadonlyMap<string, Float32Array>
  step: number
}

/** What one step did. */
export interface AdamWStepResult {
  /** Global L2 norm of the gradients before clipping. */
  readonly gradNorm: number
  /** The factor the gradients were multiplied by (1 when not clipped). */
  readonly clipScale: number
}

/** Zero moments for every variable, step 0. */
export const initAdamW = (variables: ReadonlyMap<string, tf.Variable>): AdamWState => {
  const m = new Map<string, Float32Array>()
  const v = new Map<string, Float32Array>()
  for (const [name, variable] of variables) {
    m.set(name, new Float32Array(variable.size))
    v.set(name, new Float32Array(variable.size))
  }
  return { m, v, step: 0 }
}

/** Sets every moment back to zero and the step count to 0. */
export const resetAdamW = (state: AdamWState): void => {
  for (const moment of [...state.m.values(), ...state.v.values()]) moment.fill(0)
  state.step = 0
}

const moment = (moments: ReadonlyMap<string, Float32Array>, name: string): Float32Array => {
  const values = moments.get(name)
  if (values === undefined) throw new Error(`AdamW has no moment for parameter ${name}`)
  return values
}

/** Global L2 norm of a set of arrays, accumulated in float64. */
export const globalNorm = (arrays: ReadonlyArray<Float32Array>): number => {
  let sum = 0
  for (const values of arrays) for (let i = 0; i < values.length; i++) sum += values[i]! * values[i]!
  return Math.sqrt(sum)
}

/** What kernels/adamw.wat exports. */
interface AdamWKernel {
  readonly memory: { readonly buffer: ArrayBuffer }
  readonly adamW: (
    n: number, grad: number, m: number, v: number, param: number, out: number,
    clip: number, beta1: number, beta2: number, stepSize: number, sqrtBiasCorrection2: number, decay: number, eps: number,
    squares: number
  ) => number
}

const adamWKernel = ownMemoryKernel<AdamWKernel>(adamwWasm)

/** Floats per array in the kernel's memory: five arrays of them take 160 KiB of its 192. */
const chunk = 8192

/** The coefficients of one step, as kernels/adamw.wat takes them after its arrays. */
type StepCoefficients = readonly [clip: number, beta1: number, beta2: number, stepSize: number, sqrtBiasCorrection2: number, decay: number, eps: number]

/**
 * One parameter's update (see kernels/adamw.wat): `m` and `v` in place, the new values into
 * `updated`, a chunk at a time through the kernel's memory. Answers `squares` plus the sum of
 * the squares of `g`, added in order.
 */
const updateParameter = (
  values: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, updated: Float32Array,
  coefficients: StepCoefficients, squares: number
): number => {
  const kernel = adamWKernel()
  const [gradIn, mIn, vIn, paramIn, out] = [0, 1, 2, 3, 4].map((i) => new Float32Array(kernel.memory.buffer, i * chunk * 4, chunk))
  for (let start = 0; start < values.length; start += chunk) {
    const end = Math.min(values.length, start + chunk)
    const length = end - start
    gradIn!.set(g.subarray(start, end))
    // The kernel squares the gradient past an odd end too: a zero there adds nothing.
    if (length % 2 === 1) gradIn![length] = 0
    mIn!.set(m.subarray(start, end))
    vIn!.set(v.subarray(start, end))
    paramIn!.set(values.subarray(start, end))
    squares = kernel.adamW(length, gradIn!.byteOffset, mIn!.byteOffset, vIn!.byteOffset, paramIn!.byteOffset, out!.byteOffset, ...coefficients, squares)
    m.set(mIn!.subarray(0, length), start)
    v.set(vIn!.subarray(0, length), start)
    updated.set(out!.subarray(0, length), start)
  }
  return squares
}

/**
 * One AdamW step with torch's semantics: gradients clipped to a global norm of
 * `grad_clip_norm` when it is positive (scale `clip / (norm + 1e-6)`, capped at 1), moments
 * `m ← β1·m + (1−β1)·g` and `v ← β2·v + (1−β2)·g²`, decoupled weight decay
 * `p ← p·(1 − lr·wd)`, then `p ← p − lr/(1−β1^t) · m / (√v / √(1−β2^t) + eps)`.
 * Weight decay applies to every parameter, as torch does when given one parameter group.
 * `grads` holds every parameter's gradient by name. Arithmetic is float64, rounded to
 * float32 where a value is stored.
 */
export const adamWStep = (
  variables: ReadonlyMap<string, tf.Variable>,
  grads: ReadonlyMap<string, Float32Array>,
  state: AdamWState,
  adam: AdamParams
): AdamWStepResult => {
  const gradient = (name: string): Float32Array => {
    const g = grads.get(name)
    if (g === undefined) throw new Error(`AdamW got no gradient for parameter ${name}`)
    return g
  }
  // Clipping needs the norm before the update; otherwise the update's own pass sums the
  // squares, in the same order, so the norm has the same bits either way.
  const clipping = adam.grad_clip_norm > 0
  const normFirst = clipping ? globalNorm([...variables.keys()].map(gradient)) : undefined
  const clipScale = normFirst === undefined ? 1 : Math.min(1, adam.grad_clip_norm / (normFirst + 1e-6))
  const step = state.step + 1
  const { learning_rate: lr, beta1, beta2, eps, weight_decay: wd } = adam
  const coefficients: StepCoefficients = [clipScale, beta1, beta2, lr / (1 - beta1 ** step), Math.sqrt(1 - beta2 ** step), 1 - lr * wd, eps]
  let squares = 0
  for (const [name, p] of variables) {
    const m = moment(state.m, name)
    const v = moment(state.v, name)
    const g = gradient(name)
    // The new values go straight into the tensor that replaces the old one.
    tf.tidy(() =>
      p.assign(filledFloat32Tensor(p.shape, (updated) =>
        withFloat32Values(p, (values) => {
          squares = updateParameter(values, g, m, v, updated, coefficients, squares)
        })))
    )
  }
  state.step = step
  return { gradNorm: normFirst ?? Math.sqrt(squares), clipScale }
}
