import * as tf from "@tensorflow/tfjs"
import type { AdamParams } from "../../ports/index.js"

/**
 * The whole AdamW state, explicit so it can be saved and restored bit for bit: the first
 * and second moments of every parameter (by parameter name) and the number of steps taken.
 */
export interface AdamWState {
  readonly m: ReadonlyMap<string, tf.Variable>
  readonly v: ReadonlyMap<string, tf.Variable>
  step: number
}

/** What one step did. */
export interface AdamWStepResult {
  /** Global L2 norm of the gradients before clipping. */
  readonly gradNorm: number
  /** The factor the gradients were multiplied by (1 when not clipped). */
  readonly clipScale: number
}

const zeroVariable = (like: tf.Tensor): tf.Variable => tf.tidy(() => tf.variable(tf.zerosLike(like), false))

/** Zero moments for every variable, step 0. */
export const initAdamW = (variables: ReadonlyMap<string, tf.Variable>): AdamWState => {
  const m = new Map<string, tf.Variable>()
  const v = new Map<string, tf.Variable>()
  for (const [name, variable] of variables) {
    m.set(name, zeroVariable(variable))
    v.set(name, zeroVariable(variable))
  }
  return { m, v, step: 0 }
}

/** Sets every moment back to zero and the step count to 0. */
export const resetAdamW = (state: AdamWState): void => {
  tf.tidy(() => {
    for (const moment of [...state.m.values(), ...state.v.values()]) moment.assign(tf.zerosLike(moment))
  })
  state.step = 0
}

/** Frees the moments. */
export const disposeAdamW = (state: AdamWState): void => {
  for (const moment of [...state.m.values(), ...state.v.values()]) moment.dispose()
}

const moment = (moments: ReadonlyMap<string, tf.Variable>, name: string): tf.Variable => {
  const variable = moments.get(name)
  if (variable === undefined) throw new Error(`AdamW has no moment for parameter ${name}`)
  return variable
}

/** Global L2 norm of a set of tensors, read back to JavaScript. */
export const globalNorm = (tensors: ReadonlyArray<tf.Tensor>): number =>
  tf.tidy(() => Math.sqrt(tf.addN(tensors.map((t) => t.square().sum())).dataSync()[0]!))

/**
 * One AdamW step with torch's semantics: gradients clipped to a global norm of
 * `grad_clip_norm` when it is positive (scale `clip / (norm + 1e-6)`, capped at 1), moments
 * `m ← β1·m + (1−β1)·g` and `v ← β2·v + (1−β2)·g²`, decoupled weight decay
 * `p ← p·(1 − lr·wd)`, then `p ← p − lr/(1−β1^t) · m / (√v / √(1−β2^t) + eps)`.
 * Weight decay applies to every parameter, as torch does when given one parameter group.
 */
export const adamWStep = (
  variables: ReadonlyMap<string, tf.Variable>,
  grads: ReadonlyMap<string, tf.Tensor>,
  state: AdamWState,
  adam: AdamParams
): AdamWStepResult => {
  const names = [...variables.keys()]
  const gradient = (name: string): tf.Tensor => {
    const grad = grads.get(name)
    if (grad === undefined) throw new Error(`AdamW got no gradient for parameter ${name}`)
    return grad
  }
  const gradNorm = globalNorm(names.map(gradient))
  const clipScale = adam.grad_clip_norm > 0 ? Math.min(1, adam.grad_clip_norm / (gradNorm + 1e-6)) : 1
  const step = state.step + 1
  const { learning_rate: lr, beta1, beta2, eps, weight_decay: wd } = adam
  const stepSize = lr / (1 - beta1 ** step)
  const sqrtBiasCorrection2 = Math.sqrt(1 - beta2 ** step)
  tf.tidy(() => {
    for (const name of names) {
      const p = variables.get(name)!
      const m = moment(state.m, name)
      const v = moment(state.v, name)
      const g = clipScale === 1 ? gradient(name) : gradient(name).mul(clipScale)
      const mNext = m.mul(beta1).add(g.mul(1 - beta1))
      const vNext = v.mul(beta2).add(g.square().mul(1 - beta2))
      const denominator = vNext.sqrt().div(sqrtBiasCorrection2).add(eps)
      const decayed = wd === 0 ? p : p.mul(1 - lr * wd)
      p.assign(decayed.sub(mNext.div(denominator).mul(stepSize)))
      m.assign(mNext)
      v.assign(vNext)
    }
  })
  state.step = step
  return { gradNorm, clipScale }
}
