import { Effect, Schema } from "effect"

/** Sampling settings (protocol `SamplingParams`); `top_k = -1` and `top_p = 1` turn those filters off. */
export const SamplingParams = Schema.Struct({
  max_tokens: Schema.optionalKey(Schema.Int),
  seed: Schema.optionalKey(Schema.Int),
  stop: Schema.optionalKey(Schema.Union([Schema.String, Schema.Array(Schema.String), Schema.Array(Schema.Int)])),
  temperature: Schema.Finite.pipe(Schema.withDecodingDefaultKey(Effect.succeed(1))),
  top_k: Schema.Int.pipe(Schema.withDecodingDefaultKey(Effect.succeed(-1))),
  top_p: Schema.Finite.pipe(Schema.withDecodingDefaultKey(Effect.succeed(1)))
})
export type SamplingParams = typeof SamplingParams.Type

/** One sampled continuation. */
export const SampledSequence = Schema.Struct({
  stop_reason: Schema.Literals(["length", "stop"]),
  tokens: Schema.Array(Schema.Int),
  logprobs: Schema.optionalKey(Schema.Array(Schema.Finite))
})
export type SampledSequence = typeof SampledSequence.Type

/** The answer to a sample request. */
export const SampleResponse = Schema.Struct({
  sequences: Schema.Array(SampledSequence),
  prompt_logprobs: Schema.optionalKey(Schema.Array(Schema.NullOr(Schema.Finite)))
})
export type SampleResponse = typeof SampleResponse.Type
