/** What can go wrong around a segment, and which failures are worth another attempt. */
import { Predicate, Schema } from "effect"

/** A segment asked for with input it cannot run: no run there, a bad attempt id, a pipeline. */
export class SegmentInputError extends Schema.TaggedError<SegmentInputError>()("SegmentInputError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

/**
 * The segment process ended without saying how (killed, out of memory, a crash): nothing it
 * did after its last committed checkpoint counts, and running the segment again is safe.
 */
export class SegmentCrashedError extends Schema.TaggedError<SegmentCrashedError>()("SegmentCrashedError", {
  attemptId: Schema.String,
  exitCode: Schema.NullOr(Schema.Int),
  signal: Schema.NullOr(Schema.String),
  message: Schema.String
}) {}

/** A segment that ended `failed`; `retryable` is false for bad input. */
export class SegmentFailedError extends Schema.TaggedError<SegmentFailedError>()("SegmentFailedError", {
  attemptId: Schema.String,
  errorTag: Schema.String,
  retryable: Schema.Boolean,
  message: Schema.String
}) {}

/** The run's metrics and events could not be brought up to its newest committed checkpoint. */
export class AdoptionError extends Schema.TaggedError<AdoptionError>()("AdoptionError", {
  runDir: Schema.String,
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

/**
 * Errors that say the input is wrong (the recipe, its data, a refused or damaged checkpoint,
 * the segment's own arguments): another attempt would fail the same way. Everything else (a
 * store or backend that failed to answer, a crash) may pass.
 */
const badInputTags = new Set([
  "RecipeError",
  // Deterministic: the same segment diverges again from the same checkpoint.
  "DivergedError",
  "RendererError",
  "TokenizerLoadError",
  "EnvModuleError",
  "LrScheduleError",
  "DatasetRowError",
  "InvalidRequestError",
  "ResumeRefusedError",
  "CheckpointDamagedError",
  "WorkflowInvalidError",
  "RunDirectoryError",
  "UnsafeKeyError",
  "SegmentInputError"
])

/** The `_tag` of an error, or `Defect` for anything without one. */
export const errorTagOf = (error: unknown): string =>
  Predicate.hasProperty(error, "_tag") && typeof error._tag === "string" ? error._tag : "Defect"

/** Whether running the segment again may succeed where this error failed it. */
export const isRetryable = (error: unknown): boolean => {
  if (badInputTags.has(errorTagOf(error))) return false
  // A training error knows itself whether the same call can succeed again.
  if (Predicate.hasProperty(error, "retryable") && typeof error.retryable === "boolean") return error.retryable
  return true
}
