import { type Datum, float32, fromInts, int64 } from "../../ports/index.js"

/** A sampled reply to a prompt, with what a policy-gradient loss needs for each of its tokens. */
export interface ScoredCompletion {
  readonly prompt: ReadonlyArray<number>
  readonly completion: ReadonlyArray<number>
  /** The sampler's logprob of each completion token. */
  readonly logprobs: ReadonlyArray<number>
  /** The advantage of each completion token (a constant for a whole-episode reward). */
  readonly advantages: ReadonlyArray<number>
}

/**
 * The datum of a scored completion for the `importance_sampling` and `ppo` losses: the
 * prompt and completion as one sequence (input = sequence[:-1], targets = sequence[1:]),
 * with the sampler's logprobs and the advantages at the completion's targets and zeros at
 * the prompt's, so only sampled tokens are trained. Sequences over `contextLength + 1`
 * tokens are cut, as training data is.
 */
export const rolloutDatum = (scored: ScoredCompletion, contextLength: number): Datum => {
  const tokens = [...scored.prompt, ...scored.completion].slice(0, contextLength + 1)
  const targets = tokens.length - 1
  const logprobs = new Array<number>(targets).fill(0)
  const advantages = new Array<number>(targets).fill(0)
  // Target i is token i + 1, so the completion's first token is target prompt.length - 1.
  scored.completion.forEach((_, index) => {
    const target = scored.prompt.length - 1 + index
    if (target < targets) {
      logprobs[target] = scored.logprobs[index] ?? 0
      advantages[target] = scored.advantages[index] ?? 0
    }
  })
  return {
    model_input: fromInts(tokens.slice(0, -1)),
    loss_fn_inputs: {
      target_tokens: int64(tokens.slice(1)),
      logprobs: float32(logprobs),
      advantages: float32(advantages)
    }
  }
}
