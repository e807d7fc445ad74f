import { Schema } from "effect"
import { TensorData } from "./tensor-data.js"

/** The built-in losses of the protocol. */
export const LossFnType = Schema.Literals(["cross_entropy", "importance_sampling", "ppo", "cispo", "dro"])
export type LossFnType = typeof LossFnType.Type

/** Scalar settings of a loss (e.g. `clip_low_threshold`). */
export const LossFnConfig = Schema.Record(Schema.String, Schema.Finite)
export type LossFnConfig = typeof LossFnConfig.Type

/**
 * Result of `forward` / `forwardBackward`: per-datum outputs (at least `logprobs` of the
 * targets) and metrics keyed `name:reduction` (`loss:sum`, ...) so chunked results merge.
 */
export const ForwardBackwardOutput = Schema.Struct({
  loss_fn_output_type: Schema.String,
  loss_fn_outputs: Schema.Array(Schema.Record(Schema.String, TensorData)),
  metrics: Schema.Record(Schema.String, Schema.Finite)
})
export type ForwardBackwardOutput = typeof ForwardBackwardOutput.Type

/** Result of an optimizer step. */
export const OptimStepOutput = Schema.Struct({
  metrics: Schema.Record(Schema.String, Schema.Finite)
})
export type OptimStepOutput = typeof OptimStepOutput.Type
