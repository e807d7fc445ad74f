import { Effect, Schema } from "effect"

/**
 * Optimizer step settings, as the Tinker protocol defines them: AdamW with decoupled
 * weight decay and optional clipping of the global gradient norm (0 turns it off). A
 * learning rate of 0 is valid: the step updates the moments and leaves the weights alone.
 */
export const AdamParams = Schema.Struct({
  learning_rate: Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)).pipe(Schema.withDecodingDefaultKey(Effect.succeed(1e-4))),
  beta1: Schema.Finite.pipe(Schema.withDecodingDefaultKey(Effect.succeed(0.9))),
  beta2: Schema.Finite.pipe(Schema.withDecodingDefaultKey(Effect.succeed(0.95))),
  eps: Schema.Finite.pipe(Schema.withDecodingDefaultKey(Effect.succeed(1e-12))),
  weight_decay: Schema.Finite.pipe(Schema.withDecodingDefaultKey(Effect.succeed(0))),
  grad_clip_norm: Schema.Finite.pipe(Schema.withDecodingDefaultKey(Effect.succeed(0)))
})
export type AdamParams = typeof AdamParams.Type

/** Protocol defaults with the given overrides. */
export const adamParams = (overrides: Partial<AdamParams> = {}): AdamParams =>
  Schema.decodeUnknownSync(AdamParams)(overrides)
