import { Effect, Random, Scope } from "effect"
import {
  InvalidRequestError,
  type ModelInput,
  type SampleResponse,
  type SamplingClient,
  type SamplingParams,
  toInts,
  type TrainingError
} from "../../ports/index.js"
import { compute } from "./compute.js"
import { generate, promptLogprobs } from "./generate.js"
import { samplerParams, type SamplerParams } from "./sampler-weights.js"
import { makeSerialExecutor } from "./serial-executor.js"
import type { DecodedState } from "./state-codec.js"
import { disposeParameters } from "./parameters.js"

const promptProblem = (tokens: ReadonlyArray<number>, params: SamplerParams): string | undefined => {
  const { vocabSize, contextLength } = params.architecture
  if (tokens.length === 0) return "the prompt is empty"
  if (tokens.length > contextLength) {
    return `the prompt has ${tokens.length} tokens, more than the model's context length ${contextLength}`
  }
  if (!tokens.every((t) => Number.isInteger(t) && t >= 0 && t < vocabSize)) {
    return `the prompt holds a token id outside [0, ${vocabSize})`
  }
  return undefined
}

const samplingProblem = (numSamples: number, params: SamplingParams): string | undefined => {
  if (!Number.isInteger(numSamples) || numSamples < 1) return `numSamples must be a positive integer, got ${numSamples}`
  if (!(params.temperature >= 0)) return `temperature must be >= 0, got ${params.temperature}`
  if (!(params.top_p > 0 && params.top_p <= 1)) return `top_p must be in (0, 1], got ${params.top_p}`
  if (params.max_tokens !== undefined && params.max_tokens < 0) return `max_tokens must be >= 0, got ${params.max_tokens}`
  const stop = params.stop
  if (typeof stop === "string" || (Array.isArray(stop) && stop.some((s) => typeof s === "string"))) {
    return "the local backend has no tokenizer: give stop as token ids"
  }
  return undefined
}

/**
 * A {@link SamplingClient} over frozen weights decoded from a saved state. Calls run one at
 * a time in submission order; a call without a seed draws one from Effect's `Random`.
 */
export const makeLocalSamplingClient = Effect.fn("LocalSamplingClient.make")(
  function*(state: DecodedState, scope: Scope.Scope): Effect.fn.Return<SamplingClient["Service"], TrainingError> {
    const params = yield* compute("createSamplingClient", () => samplerParams(state))
    yield* Scope.addFinalizer(scope, Effect.sync(() => disposeParameters(params)))
    const executor = yield* makeSerialExecutor(scope)

    const sample = Effect.fn("LocalSamplingClient.sample")(
      function*(prompt: ModelInput, numSamples: number, sampling: SamplingParams) {
        const tokens = toInts(prompt)
        const problem = promptProblem(tokens, params) ?? samplingProblem(numSamples, sampling)
        if (problem !== undefined) return yield* new InvalidRequestError({ operation: "sample", message: problem })
        const seed = sampling.seed ?? (yield* Random.nextIntBetween(0, 2 ** 31))
        const stop = sampling.stop
        const options = {
          temperature: sampling.temperature,
          topK: sampling.top_k,
          topP: sampling.top_p,
          maxTokens: sampling.max_tokens ?? params.architecture.contextLength,
          stopTokens: new Set(Array.isArray(stop) ? stop.filter((s): s is number => typeof s === "number") : []),
          seed
        }
        return yield* executor.submit(compute("sample", (): SampleResponse => ({
          sequences: generate(params, tokens, numSamples, options).map((g) => ({
            stop_reason: g.stopReason,
            tokens: g.tokens,
            logprobs: g.logprobs
          }))
        })))
      }
    )

    const computeLogprobs = Effect.fn("LocalSamplingClient.computeLogprobs")(function*(prompt: ModelInput) {
      const tokens = toInts(prompt)
      const problem = promptProblem(tokens, params)
      if (problem !== undefined) return yield* new InvalidRequestError({ operation: "computeLogprobs", message: problem })
      return yield* executor.submit(compute("computeLogprobs", () => promptLogprobs(params, tokens)))
    })

    return { sample, computeLogprobs }
  }
)
