import type { Datum } from "../../ports/index.js"
import type { CustomLoss } from "../training/custom-loss.js"

/** Settings of {@link dpoLoss}. */
export interface DpoLossConfig {
  /** How strongly the policy is held to the reference (the KL penalty of DPO); > 0. */
  readonly beta: number
  /** Per datum, the reference model's logprobs of its `target_tokens` (same lengths as the policy's). */
  readonly referenceLogprobs: ReadonlyArray<Float32Array>
}

/** log(1 + e^x) without overflow for large x or loss of precision for very negative x. */
const softplus = (x: number): number => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)))

/** 1 / (1 + e^-x), computed on the side where the exponential cannot overflow. */
const sigmoid = (x: number): number => {
  if (x >= 0) return 1 / (1 + Math.exp(-x))
  const e = Math.exp(x)
  return e / (1 + e)
}

/** The `weights` of a datum, checked against the length of its logprobs. */
const responseWeights = (datum: Datum, index: number, length: number): ReadonlyArray<number> => {
  const weights = datum.loss_fn_inputs["weights"]?.data
  if (weights === undefined) throw new Error(`datum ${index}: loss_fn_inputs.weights is missing (DPO reads it to find the response)`)
  if (weights.length !== length) throw new Error(`datum ${index}: ${weights.length} weights for ${length} logprobs`)
  return weights
}

/** Σ w_t · logp_t: the logprob of the response tokens that the weights mark. */
const sequenceLogprob = (weights: ReadonlyArray<number>, logprobs: ArrayLike<number>): number => {
  let total = 0
  for (let t = 0; t < weights.length; t++) total += weights[t]! * logprobs[t]!
  return total
}

/**
 * Direct Preference Optimization (Rafailov et al., 2023) as a {@link CustomLoss}, for
 * `forwardBackwardCustom`. Datums come in pairs: the chosen response at each even index,
 * the rejected one right after it. Each datum's `weights` mark its response tokens, so a
 * sequence's logprob is Σ w_t · logp_t (prompt tokens carry weight 0).
 *
 * Per pair, with margin m = (chosen − ref_chosen) − (rejected − ref_rejected), the loss is
 * −log σ(β·m), computed as softplus(−β·m) so that it neither overflows nor rounds to zero.
 * Like every protocol loss it is a sum over the batch (here over pairs), so chunked batches
 * add up; scale the learning rate for a mean. Its gradient is exact:
 * dLoss/dlogp_t = ∓β·σ(−β·m)·w_t (− for chosen tokens, + for rejected ones).
 *
 * Metrics: `accuracy:mean` (share of pairs with m > 0), `margin:mean` (mean β·m),
 * `pairs:sum`. Throws on an odd number of datums, missing weights or mismatched lengths.
 */
export const dpoLoss = ({ beta, referenceLogprobs }: DpoLossConfig): CustomLoss => (data, logprobs) => {
  if (!(beta > 0) || !Number.isFinite(beta)) throw new Error(`DPO beta must be positive and finite, got ${beta}`)
  if (data.length % 2 !== 0) throw new Error(`DPO takes (chosen, rejected) pairs of datums, got an odd count ${data.length}`)
  if (logprobs.length !== data.length) throw new Error(`DPO got ${logprobs.length} logprob arrays for ${data.length} datums`)
  if (referenceLogprobs.length !== data.length) {
    throw new Error(`DPO got ${referenceLogprobs.length} reference logprob arrays for ${data.length} datums`)
  }
  const weights = data.map((datum, index) => {
    const length = logprobs[index]!.length
    if (referenceLogprobs[index]!.length !== length) {
      throw new Error(`datum ${index}: ${referenceLogprobs[index]!.length} reference logprobs for ${length} logprobs`)
    }
    return responseWeights(datum, index, length)
  })
  // Log-ratio of policy to reference over the response: the implicit reward, divided by β.
  const logRatio = (index: number) =>
    sequenceLogprob(weights[index]!, logprobs[index]!) - sequenceLogprob(weights[index]!, referenceLogprobs[index]!)

  const gradients = logprobs.map((lp) => new Float32Array(lp.length))
  let loss = 0
  let correct = 0
  let margins = 0
  const pairs = data.length / 2
  for (let pair = 0; pair < pairs; pair++) {
    const chosen = 2 * pair
    const rejected = chosen + 1
    const scaled = beta * (logRatio(chosen) - logRatio(rejected))
    loss += softplus(-scaled)
    if (scaled > 0) correct++
    margins += scaled
    // d softplus(−β·m) / dm = −β·σ(−β·m); m grows with chosen logprobs and falls with rejected ones.
    const slope = beta * sigmoid(-scaled)
    for (const [index, sign] of [[chosen, -1], [rejected, 1]] as const) {
      // Unweighted (prompt) tokens keep their gradient of +0.
      weights[index]!.forEach((w, t) => {
        if (w !== 0) gradients[index]![t] = sign * slope * w
      })
    }
  }
  return {
    loss,
    gradients,
    metrics: { "accuracy:mean": pairs === 0 ? 0 : correct / pairs, "margin:mean": pairs === 0 ? 0 : margins / pairs, "pairs:sum": pairs }
  }
}
