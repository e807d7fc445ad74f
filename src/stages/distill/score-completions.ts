import { Effect } from "effect"
import { fromInts, InvalidRequestError, type SamplingClient } from "../../ports/index.js"
import { completionLogprobs } from "./reverse-kl.js"

/** A prompt and one completion of it, as token ids. */
export interface TokensAfterPrompt {
  readonly prompt: { readonly tokens: ReadonlyArray<number> }
  readonly completion: { readonly tokens: ReadonlyArray<number> }
}

/**
 * The logprob of each completion token under `sampler`, given its prompt and the tokens
 * before it: `computeLogprobsBatch` over every prompt + completion, one submission, so a
 * backend can score them together. An answer of the wrong shape fails with an
 * `InvalidRequestError` whose message starts with `what`.
 */
export const scoreCompletions = (sampler: SamplingClient["Service"], samples: ReadonlyArray<TokensAfterPrompt>, what: string) =>
  Effect.gen(function*() {
    const pending = yield* sampler.computeLogprobsBatch(samples.map(({ prompt, completion }) => fromInts([...prompt.tokens, ...completion.tokens])))
    const answers = yield* pending.result
    return yield* Effect.forEach(answers, (answer, index) => {
      const { prompt, completion } = samples[index]!
      const logprobs = completionLogprobs(answer, prompt.tokens.length, completion.tokens.length)
      return typeof logprobs === "string"
        ? Effect.fail(new InvalidRequestError({ operation: "computeLogprobs", message: `${what}${logprobs}` }))
        : Effect.succeed(logprobs as ReadonlyArray<number>)
    })
  })
