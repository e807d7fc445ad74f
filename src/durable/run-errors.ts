/** What can go wrong with a durable run, as the workflow journals it and the CLI reports it. */
import { Schema } from "effect"

/**
 * One execution of a segment activity failed. `retryable` is false for bad input (the
 * recipe, its data, a refused resume), which would fail the same way on every attempt.
 * Journaled by the engine, so it carries only strings and a flag.
 */
export class SegmentAttemptError extends Schema.TaggedError<SegmentAttemptError>()("SegmentAttemptError", {
  segment: Schema.Int,
  errorTag: Schema.String,
  retryable: Schema.Boolean,
  message: Schema.String
}) {}

/** The run ended failed: bad input at once, or a segment that kept failing past its retries. */
export class RunFailedError extends Schema.TaggedError<RunFailedError>()("RunFailedError", {
  runId: Schema.String,
  message: Schema.String
}) {}

/** Another worker holds the SQLite file (see `workerLockLayer`). */
export class WorkerLockError extends Schema.TaggedError<WorkerLockError>()("WorkerLockError", {
  db: Schema.String,
  message: Schema.String
}) {}

/** No run has this id in the database. */
export class RunNotFoundError extends Schema.TaggedError<RunNotFoundError>()("RunNotFoundError", {
  runId: Schema.String,
  message: Schema.String
}) {}

/** The run cannot do what was asked in the state it is in (resume a finished run, say). */
export class RunControlError extends Schema.TaggedError<RunControlError>()("RunControlError", {
  runId: Schema.String,
  message: Schema.String
}) {}
