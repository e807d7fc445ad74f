/** Uniform numbers in [0, 1) from a 32-bit seed (mulberry32-style mixing); same seed, same stream. */
export const seededUniform = (seed: number): (() => number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let z = state
    z = Math.imul(z ^ (z >>> 15), z | 1)
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61)
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296
  }
}

/** How to pick the next token: `temperature` 0 is greedy; `topK` ≤ 0 and `topP` 1 turn those filters off. */
export interface TokenSampling {
  readonly temperature: number
  readonly topK: number
  readonly topP: number
}

/** A chosen token and its log-probability. */
export interface SampledToken {
  readonly token: number
  readonly logprob: number
}

/** log-softmax of `values / temperature` (of `values` when it is 1), in float64. Plain loops: this runs for every drawn token. */
const logSoftmax = (values: ArrayLike<number>, temperature = 1): Float64Array => {
  const scaled = new Float64Array(values.length)
  let max = -Infinity
  for (let i = 0; i < values.length; i++) {
    scaled[i] = temperature === 1 ? values[i]! : values[i]! / temperature
    max = Math.max(max, scaled[i]!)
  }
  let total = 0
  for (let i = 0; i < scaled.length; i++) total += Math.exp(scaled[i]! - max)
  const logTotal = max + Math.log(total)
  for (let i = 0; i < scaled.length; i++) scaled[i] = scaled[i]! - logTotal
  return scaled
}

/**
 * Ids 0 … count−1, most likely first, equal ones in id order: a bottom-up merge sort, stable
 * as `Array.prototype.sort` is and several times faster on a few hundred ids (a comparator
 * call per comparison dominated drawing a token).
 */
const byLikelihood = (logprobs: Float64Array, count: number): Array<number> => {
  let from = new Int32Array(count)
  for (let id = 0; id < count; id++) from[id] = id
  let to = new Int32Array(count)
  for (let width = 1; width < count; width *= 2) {
    for (let start = 0; start < count; start += 2 * width) {
      const middle = Math.min(start + width, count)
      const end = Math.min(start + 2 * width, count)
      let left = start
      let right = middle
      for (let out = start; out < end; out++) {
        // Take from the right run only when strictly more likely: ties keep the left (lower id) first.
        if (right < end && (left >= middle || logprobs[from[right]!]! > logprobs[from[left]!]!)) to[out] = from[right++]!
        else to[out] = from[left++]!
      }
    }
    const merged = to
    to = from
    from = merged
  }
  return Array.from(from)
}

/**
 * Picks the next token from one row of logits. The reported log-probability is the token's
 * under the temperature-scaled distribution before top-k / top-p truncation (under the raw
 * logits when greedy), which is what importance weights against the model need.
 *
 * Only ids below `drawable` are picked (default: all): a Hugging Face model's head may be
 * padded beyond its tokenizer (Qwen's is), and an id the tokenizer lacks can be neither
 * decoded nor scored by a teacher. Like top-k, this truncates the candidates, not the
 * distribution the log-probability is taken under, so it stays the one training computes.
 */
export const sampleToken = (
  logits: ArrayLike<number>,
  sampling: TokenSampling,
  uniform: () => number,
  drawable: number = logits.length
): SampledToken => {
  if (sampling.temperature === 0) {
    const logprobs = logSoftmax(logits)
    let best = 0
    for (let i = 1; i < drawable; i++) if (logprobs[i]! > logprobs[best]!) best = i
    return { token: best, logprob: logprobs[best]! }
  }
  const logprobs = logSoftmax(logits, sampling.temperature)
  const probs = new Float64Array(logprobs.length)
  for (let i = 0; i < probs.length; i++) probs[i] = Math.exp(logprobs[i]!)
  const massOf = (tokens: ReadonlyArray<number>) => {
    let sum = 0
    for (const token of tokens) sum += probs[token]!
    return sum
  }
  let candidates: Array<number> = byLikelihood(logprobs, Math.min(drawable, logprobs.length))
  if (sampling.topK > 0) candidates = candidates.slice(0, sampling.topK)
  if (sampling.topP < 1) {
    // The smallest set of most likely tokens whose probability reaches top_p, measured (as
    // Hugging Face and vLLM do) on the distribution renormalised over the top-k candidates.
    // Compared unnormalised, so ties land exactly: p ≥ top_p·(p + p) holds when top_p is 0.5.
    const threshold = sampling.topP * massOf(candidates)
    let cumulative = 0
    const kept: Array<number> = []
    for (const token of candidates) {
      kept.push(token)
      cumulative += probs[token]!
      if (cumulative >= threshold) break
    }
    candidates = kept
  }
  const total = massOf(candidates)
  let remaining = uniform() * total
  for (const token of candidates) {
    remaining -= probs[token]!
    if (remaining < 0) return { token, logprob: logprobs[token]! }
  }
  // Rounding left a sliver of mass unassigned: it belongs to the last candidate.
  const last = candidates[candidates.length - 1]!
  return { token: last, logprob: logprobs[last]! }
}
