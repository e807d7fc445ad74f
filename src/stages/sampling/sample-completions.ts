import { Effect } from "effect"
import { fromInts, type SamplingClient, type Tokenizer } from "../../ports/index.js"
import type { CompletionPrompt } from "../rendering/completion-prompt.js"

/** How completions are drawn. */
export interface CompletionSampling {
  readonly maxTokens: number
  readonly temperature: number
  /** 1 for greedy decoding. */
  readonly topK?: number
  readonly seed: number
}

/** One sampled assistant turn. */
export interface Completion {
  /** The sampled tokens, the end marker's first token included when the turn ended. */
  readonly tokens: ReadonlyArray<number>
  /** The sampler's logprob of each sampled token. */
  readonly logprobs: ReadonlyArray<number>
  /** The turn's text, without its end marker. */
  readonly text: string
  /** True when the turn ended with its marker, false when it ran out of tokens. */
  readonly finished: boolean
}

/**
 * Submits one request for `count` completions of a prompt, stopping at the first token of
 * the prompt's end marker, and answers an effect that awaits them: submit every prompt's
 * request before awaiting any, so a remote service works on them together. The seed fixes
 * the draw, so a resumed run samples what the original run sampled.
 */
export const sampleCompletions = (
  sampler: SamplingClient["Service"],
  tokenizer: Tokenizer["Service"],
  prompt: CompletionPrompt,
  count: number,
  sampling: CompletionSampling
) =>
  Effect.gen(function*() {
    const stopToken = prompt.stop[0]!
    const pending = yield* sampler.sample(fromInts(prompt.tokens), count, {
      max_tokens: sampling.maxTokens,
      temperature: sampling.temperature,
      top_k: sampling.topK ?? -1,
      top_p: 1,
      seed: sampling.seed,
      stop: [stopToken]
    })
    return pending
  }).pipe(
    Effect.map((pending) =>
      Effect.map(pending.result, (response) =>
        response.sequences.map((sequence): Completion => {
          const finished = sequence.stop_reason === "stop"
          const body = finished && sequence.tokens.at(-1) === prompt.stop[0] ? sequence.tokens.slice(0, -1) : sequence.tokens
          return {
            tokens: sequence.tokens,
            logprobs: sequence.logprobs ?? [],
            text: tokenizer.decode(body),
            finished
          }
        })
      )
    )
  )
