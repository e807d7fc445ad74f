import { Schema } from "effect"

/**
 * What an error was caused by (a thrown error, a failed request, a lower-level tagged error),
 * kept so that `--verbose` can show the whole chain; its message is already in `message`.
 */
const Cause = Schema.optional(Schema.Defect())

/**
 * A training or sampling call failed. `retryable` tells the runner whether trying the same
 * call again can succeed (a dropped connection) or not (a malformed datum).
 */
export class TrainingError extends Schema.TaggedError<TrainingError>()("TrainingError", {
  operation: Schema.String,
  message: Schema.String,
  retryable: Schema.Boolean,
  cause: Cause
}) {}

/** A datum or request that the backend cannot take, found before any compute. */
export class InvalidRequestError extends Schema.TaggedError<InvalidRequestError>()("InvalidRequestError", {
  operation: Schema.String,
  message: Schema.String,
  cause: Cause
}) {}

/** The backend asked for (e.g. `gpu`) cannot run here. */
export class BackendUnavailableError extends Schema.TaggedError<BackendUnavailableError>()("BackendUnavailableError", {
  backend: Schema.String,
  message: Schema.String,
  cause: Cause
}) {}

/** A blob store operation failed; `key` names the blob. */
export class BlobStoreError extends Schema.TaggedError<BlobStoreError>()("BlobStoreError", {
  operation: Schema.String,
  key: Schema.String,
  message: Schema.String,
  cause: Cause
}) {}

/** A blob was asked for that does not exist. */
export class BlobNotFoundError extends Schema.TaggedError<BlobNotFoundError>()("BlobNotFoundError", {
  key: Schema.String,
  cause: Cause
}) {}

/** A key that could escape its store's prefix (`..`, absolute, control characters). */
export class UnsafeKeyError extends Schema.TaggedError<UnsafeKeyError>()("UnsafeKeyError", {
  key: Schema.String,
  reason: Schema.String,
  cause: Cause
}) {}

/** A dataset could not be opened or read. */
export class DatasetError extends Schema.TaggedError<DatasetError>()("DatasetError", {
  uri: Schema.String,
  message: Schema.String,
  cause: Cause
}) {}

/** One dataset row failed validation; `line` is 1-based. */
export class DatasetRowError extends Schema.TaggedError<DatasetRowError>()("DatasetRowError", {
  uri: Schema.String,
  line: Schema.Int,
  message: Schema.String,
  cause: Cause
}) {}

/** A metrics sink could not write. */
export class MetricsError extends Schema.TaggedError<MetricsError>()("MetricsError", {
  message: Schema.String,
  cause: Cause
}) {}

/** A model hub call failed; `repo` names the repository (never the token). */
export class HubError extends Schema.TaggedError<HubError>()("HubError", {
  repo: Schema.String,
  message: Schema.String,
  cause: Cause
}) {}

/**
 * A run cannot be resumed from what its store holds: the data, recipe, renderer or tokenizer
 * differ from the checkpoint's, its run state cannot be read, there is no checkpoint to resume
 * from, or the run already finished.
 * Bad input, like {@link InvalidRequestError}, and never retryable: trying again finds the
 * same checkpoint. `checkpoint` names the checkpoint when one was chosen.
 */
export class ResumeRefusedError extends Schema.TaggedError<ResumeRefusedError>()("ResumeRefusedError", {
  message: Schema.String,
  checkpoint: Schema.optional(Schema.String),
  cause: Cause
}) {}
