import { Effect } from "effect"
import { InvalidRequestError, type SamplingClient, type Tokenizer } from "../../ports/index.js"
import type { CompletionPrompt } from "../rendering/completion-prompt.js"
import { type Completion, sampleCompletions } from "./sample-completions.js"

/** A sampled reply to a prompt. */
export interface PromptCompletion {
  readonly prompt: CompletionPrompt
  readonly completion: Completion
}

/** How replies to a batch of prompts are drawn: the seed of each prompt's draw comes from `seedOf`. */
export interface PromptSampling {
  readonly count: number
  readonly maxTokens: number
  readonly temperature: number
  readonly seedOf: (promptIndex: number) => number
}

/**
 * `count` completions of every prompt, each prompt's request submitted before any is
 * awaited; answered flat, prompt by prompt. Completions without one logprob per token are
 * refused: every use of them (importance weights, the reverse KL) needs the sampler's.
 */
export const samplePrompts = (
  sampler: SamplingClient["Service"],
  tokenizer: Tokenizer["Service"],
  prompts: ReadonlyArray<CompletionPrompt>,
  sampling: PromptSampling
) =>
  Effect.gen(function*() {
    const pending: Array<Effect.Success<ReturnType<typeof sampleCompletions>>> = []
    for (const [index, prompt] of prompts.entries()) {
      pending.push(yield* sampleCompletions(sampler, tokenizer, prompt, sampling.count, {
        maxTokens: sampling.maxTokens,
        temperature: sampling.temperature,
        seed: sampling.seedOf(index)
      }))
    }
    const samples: Array<PromptCompletion> = []
    for (const [index, request] of pending.entries()) {
      for (const completion of yield* request) {
        if (completion.logprobs.length !== completion.tokens.length) {
          return yield* new InvalidRequestError({
            operation: "sample",
            message: `the sampler answered ${completion.logprobs.length} logprobs for ${completion.tokens.length} sampled tokens`
          })
        }
        samples.push({ prompt: prompts[index]!, completion })
      }
    }
    return samples
  })
