import { Effect, Random, Scope } from "effect"
import {
  InvalidRequestError,
  type ModelInput,
  type SampleResponse,
  type SamplingClient,
  type SamplingParams,
  TrainingError
} from "../../ports/index.js"
import { readHfEosIds } from "../hf-model/model-directory.js"
import { compute } from "./compute.js"
import { generate, promptsLogprobs } from "./generate.js"
import { disposeParameters } from "./parameters.js"
import { samplerParams, type SamplerParams } from "./sampler-weights.js"
import { makeSerialExecutor } from "./serial-executor.js"
import type { DecodedState } from "./state-codec.js"
import { type Decode, stopRule } from "./stop-sequences.js"
import { tokenIds } from "./token-input.js"

/** Settings of a local sampling client. */
export interface LocalSamplingClientOptions {
  /** Turns tokens into text (the recipe tokenizer's `decode`); stop strings need it. */
  readonly decode?: Decode | undefined
}

const invalid = (operation: string, message: string) => new InvalidRequestError({ operation, message })

/** The token ids of a prompt the model can read, or an `InvalidRequestError` that says why it cannot. */
const promptTokens = (
  operation: string,
  prompt: ModelInput,
  params: SamplerParams
): Effect.Effect<ReadonlyArray<number>, InvalidRequestError> => {
  const tokens = tokenIds(prompt, params.architecture, "the prompt")
  return typeof tokens === "string" ? Effect.fail(invalid(operation, tokens)) : Effect.succeed(tokens)
}

// Integers are checked here too: settings built in code never met the schema's checks.
const samplingProblem = (numSamples: number, params: SamplingParams): string | undefined => {
  if (!Number.isInteger(numSamples) || numSamples < 1) return `numSamples must be a positive integer, got ${numSamples}`
  if (!(params.temperature >= 0)) return `temperature must be >= 0, got ${params.temperature}`
  if (!Number.isInteger(params.top_k)) return `top_k must be an integer (<= 0 turns it off), got ${params.top_k}`
  if (!(params.top_p > 0 && params.top_p <= 1)) return `top_p must be in (0, 1], got ${params.top_p}`
  if (params.max_tokens !== undefined && !(Number.isInteger(params.max_tokens) && params.max_tokens >= 0)) {
    return `max_tokens must be an integer >= 0, got ${params.max_tokens}`
  }
  return undefined
}

/**
 * A {@link SamplingClient} over frozen weights decoded from a saved state. Calls run one at
 * a time in submission order; a call without a seed draws one from Effect's `Random`.
 * Stop strings need `options.decode`; without it a request that has them is refused. A
 * request without `stop` ends at a Hugging Face model's EOS ids, as Tinker's sampler does.
 * Logprobs are rounded to float32, the protocol's dtype for them, so a run gets the same
 * numbers in-process as through a Tinker-protocol server over this backend.
 */
export const makeLocalSamplingClient = Effect.fn("LocalSamplingClient.make")(
  function*(
    state: DecodedState,
    scope: Scope.Scope,
    options: LocalSamplingClientOptions = {}
  ): Effect.fn.Return<SamplingClient["Service"], TrainingError> {
    return yield* samplingClientOver(yield* compute("createSamplingClient", () => samplerParams(state)), scope, options)
  }
)

/**
 * {@link makeLocalSamplingClient} over frozen weights already built (a Hugging Face
 * directory's, read straight into them), which it takes over: they are freed when `scope` closes.
 */
export const samplingClientOver = Effect.fn("LocalSamplingClient.over")(
  function*(
    params: SamplerParams,
    scope: Scope.Scope,
    options: LocalSamplingClientOptions = {}
  ): Effect.fn.Return<SamplingClient["Service"], TrainingError> {
    yield* Scope.addFinalizer(scope, Effect.sync(() => disposeParameters(params)))
    // As the protocol says, a request without `stop` ends at the model's EOS (`[]`: nowhere).
    // sous's own transformer has no EOS; a Hugging Face model's directory names it.
    const { architecture } = params
    const eos = architecture.kind === "hf"
      ? yield* readHfEosIds(architecture.dir).pipe(
        Effect.mapError((error) => new TrainingError({ operation: "createSamplingClient", message: error.message, retryable: false, cause: error }))
      )
      : []
    const executor = yield* makeSerialExecutor(scope)

    const sample = Effect.fn("LocalSamplingClient.sample")(
      function*(prompt: ModelInput, numSamples: number, sampling: SamplingParams) {
        const tokens = yield* promptTokens("sample", prompt, params)
        const problem = samplingProblem(numSamples, sampling)
        if (problem !== undefined) return yield* invalid("sample", problem)
        const stop = stopRule(sampling.stop ?? eos, options.decode)
        if (typeof stop === "string") return yield* invalid("sample", stop)
        const seed = sampling.seed ?? (yield* Random.nextIntBetween(0, 2 ** 31))
        const generateOptions = {
          temperature: sampling.temperature,
          topK: sampling.top_k,
          topP: sampling.top_p,
          maxTokens: sampling.max_tokens ?? params.architecture.contextLength,
          stop,
          seed
        }
        return yield* executor.submit(compute("sample", (): SampleResponse => ({
          sequences: generate(params, tokens, numSamples, generateOptions).map((g) => ({
            stop_reason: g.stopReason,
            tokens: g.tokens,
            logprobs: g.logprobs.map(Math.fround)
          }))
        })))
      }
    )

    const rounded = (logprobs: ReadonlyArray<number | null>) => logprobs.map((logprob) => logprob === null ? null : Math.fround(logprob))

    const computeLogprobs = Effect.fn("LocalSamplingClient.computeLogprobs")(function*(prompt: ModelInput) {
      const tokens = yield* promptTokens("computeLogprobs", prompt, params)
      return yield* executor.submit(compute("computeLogprobs", () => rounded(promptsLogprobs(params, [tokens])[0]!)))
    })

    const computeLogprobsBatch = Effect.fn("LocalSamplingClient.computeLogprobsBatch")(
      function*(prompts: ReadonlyArray<ModelInput>) {
        const tokens: Array<ReadonlyArray<number>> = []
        for (const [index, prompt] of prompts.entries()) {
          const ids = tokenIds(prompt, params.architecture, `prompt ${index}`)
          if (typeof ids === "string") return yield* invalid("computeLogprobsBatch", ids)
          tokens.push(ids)
        }
        return yield* executor.submit(compute("computeLogprobsBatch", () => promptsLogprobs(params, tokens).map(rounded)))
      }
    )

    return { sample, computeLogprobs, computeLogprobsBatch }
  }
)
