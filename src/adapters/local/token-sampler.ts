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

const logSoftmax = (values: ArrayLike<number>): Float64Array => {
  let max = -Infinity
  for (let i = 0; i < values.length; i++) max = Math.max(max, values[i]!)
  let total = 0
  for (let i = 0; i < values.length; i++) total += Math.exp(values[i]! - max)
  const logTotal = max + Math.log(total)
  return Float64Array.from(values, (v) => v - logTotal)
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
  const logprobs = logSoftmax(Array.from(logits, (z) => z / sampling.temperature))
  const massOf = (tokens: ReadonlyArray<number>) => tokens.reduce((sum, token) => sum + Math.exp(logprobs[token]!), 0)
  let candidates = Array.from(logprobs.keys()).filter((token) => token < drawable).sort((a, b) => logprobs[b]! - logprobs[a]!)
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
      cumulative += Math.exp(logprobs[token]!)
      if (cumulative >= threshold) break
    }
    candidates = kept
  }
  const total = massOf(candidates)
  let remaining = uniform() * total
  for (const token of candidates) {
    remaining -= Math.exp(logprobs[token]!)
    if (remaining < 0) return { token, logprob: logprobs[token]! }
  }
  // Rounding left a sliver of mass unassigned: it belongs to the last candidate.
  const last = candidates[candidates.length - 1]!
  return { token: last, logprob: logprobs[last]! }
}
