import * as tf from "@tensorflow/tfjs"
import type { LossFnConfig, LossFnType } from "../../ports/index.js"

/** What a loss reads from each datum, beyond `target_tokens`, and its settings with their defaults. */
export interface LossSpec {
  /** float32 `loss_fn_inputs` keys, one value per position. */
  readonly inputs: ReadonlyArray<string>
  /** Settings from `loss_fn_config`; `undefined` marks a setting with no default, which must be given. */
  readonly config: Readonly<Record<string, number | undefined>>
}

const policyInputs = ["logprobs", "advantages"]

/**
 * The protocol's losses. Clip defaults are the protocol's (PPO 0.8 / 1.2, CISPO a one-sided
 * 0.0 / 4.0). DRO's `beta` has no default here: the protocol does not state one, and a
 * silent guess would make the same recipe train differently on another service.
 */
export const lossSpecs: Readonly<Record<LossFnType, LossSpec>> = {
  cross_entropy: { inputs: ["weights"], config: {} },
  importance_sampling: { inputs: policyInputs, config: {} },
  ppo: { inputs: policyInputs, config: { clip_low_threshold: 0.8, clip_high_threshold: 1.2 } },
  cispo: { inputs: policyInputs, config: { clip_low_threshold: 0, clip_high_threshold: 4 } },
  dro: { inputs: policyInputs, config: { beta: undefined } }
}

/**
 * The settings of a loss with defaults filled in, or what is wrong with `config`: an unknown
 * key, a missing setting without default, clip thresholds out of order, a negative beta.
 */
export const resolveLossConfig = (
  lossFn: LossFnType,
  config: LossFnConfig | undefined
): Readonly<Record<string, number>> | string => {
  const spec = lossSpecs[lossFn]
  const known = Object.keys(spec.config)
  for (const key of Object.keys(config ?? {})) {
    if (!known.includes(key)) {
      return known.length === 0
        ? `loss_fn_config.${key}: ${lossFn} takes no settings`
        : `loss_fn_config.${key}: not a setting of ${lossFn} (it takes ${known.join(", ")})`
    }
  }
  const resolved: Record<string, number> = {}
  for (const key of known) {
    const value = config?.[key] ?? spec.config[key]
    if (value === undefined) return `loss_fn_config.${key} is required by ${lossFn}`
    resolved[key] = value
  }
  const low = resolved["clip_low_threshold"]
  const high = resolved["clip_high_threshold"]
  if (low !== undefined && high !== undefined && !(low >= 0 && low <= high)) {
    return `loss_fn_config: clip thresholds must satisfy 0 <= clip_low_threshold <= clip_high_threshold, got ${low} and ${high}`
  }
  const beta = resolved["beta"]
  if (beta !== undefined && !(beta >= 0)) return `loss_fn_config.beta must be >= 0, got ${beta}`
  return resolved
}

/** The per-position tensors a loss reads, [b, t] each; `mask` is 1 on real positions, 0 on padding. */
export interface LossTensors {
  readonly logprobs: tf.Tensor2D
  readonly mask: tf.Tensor2D
  readonly inputs: ReadonlyMap<string, tf.Tensor2D>
}

// The clipped ratio of CISPO is a coefficient, not a path for gradients.
const stopGradient = tf.customGrad((x) => ({
  value: (x as tf.Tensor).clone(),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy)
}))

/**
 * The loss at every position, [b, t] (their sum is the protocol's `loss:sum`), as a
 * function of the model's target logprobs, so gradients flow through them. `logprobs` in
 * the inputs are the sampler's, `q` below. Call inside `tf.tidy` or `tf.variableGrads`.
 */
export const positionLosses = (
  lossFn: LossFnType,
  config: Readonly<Record<string, number>>,
  tensors: LossTensors
): tf.Tensor2D => {
  const { logprobs: lp, mask } = tensors
  const input = (key: string): tf.Tensor2D => tensors.inputs.get(key)!
  if (lossFn === "cross_entropy") return input("weights").mul(lp).neg() as tf.Tensor2D
  const advantages = input("advantages")
  const sampled = input("logprobs")
  const ratio = lp.sub(sampled).exp()
  const clipped = () => ratio.clipByValue(config["clip_low_threshold"]!, config["clip_high_threshold"]!)
  let objective: tf.Tensor
  switch (lossFn) {
    case "importance_sampling":
      objective = ratio.mul(advantages)
      break
    case "ppo":
      objective = tf.minimum(ratio.mul(advantages), clipped().mul(advantages))
      break
    case "cispo":
      objective = (stopGradient(clipped()) as tf.Tensor).mul(lp).mul(advantages)
      break
    case "dro":
      objective = lp.mul(advantages).sub(lp.sub(sampled).square().mul(0.5 * config["beta"]!))
      break
  }
  // Padding holds zeros, on which exp(lp − q) and (lp − q)² are not zero: mask it out.
  return objective.mul(mask).neg() as tf.Tensor2D
}
