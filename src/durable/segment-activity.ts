/**
 * A segment as an activity of the run workflow: one execution runs the segment in a segment
 * process (the one the segment before left waiting at its checkpoint, or a new one), mirrors
 * its progress into the runs table, and stops it when the run is cancelled. Activities are at
 * least once (a worker that dies mid-segment has it run again by the next one), so a new
 * process takes a fresh attempt id and the checkpoint store, not this activity, is the record
 * of progress: fencing makes a second attempt safe.
 */
import { Deferred, Duration, Effect, Schema } from "effect"
import { Activity } from "effect/workflow"
import { messageOf } from "../ports/thrown-message.js"
import { SegmentAttemptError } from "./run-errors.js"
import { appendRunEvent, findRun, updateRun } from "./run-store.js"
import { newAttemptId, runSegment, type SegmentResult } from "./segment/index.js"
import { errorTagOf, isRetryable } from "./segment/segment-errors.js"
import type { SegmentCheckpoint, SegmentProgress } from "./segment/segment-protocol.js"

/** How a segment ended, as the journal keeps it. `cancelled`: stopped by `cancelRun`. */
export const SegmentOutcome = Schema.Struct({
  outcome: Schema.Literals(["checkpoint", "finished", "lost", "cancelled"]),
  step: Schema.Int,
  checkpoint: Schema.NullOr(Schema.String)
})
export type SegmentOutcome = typeof SegmentOutcome.Type

/** Timing of the activity's watch over its segment. */
export interface SegmentActivityOptions {
  /** How often progress is written to the table and a cancel looked for (default 500 ms). */
  readonly watchEvery?: Duration.Input | undefined
  /** The segment process to run instead of the default (tests). */
  readonly entry?: string | undefined
}

const toAttemptError = (segment: number) => (error: unknown) =>
  error instanceof SegmentAttemptError ? error : new SegmentAttemptError({
    segment,
    errorTag: errorTagOf(error),
    retryable: isRetryable(error),
    message: messageOf(error)
  })

/**
 * One execution of segment `segment` of the run: resolves with how it ended, or fails with a
 * {@link SegmentAttemptError} saying whether another attempt may succeed.
 */
const executeSegment = (runId: string, runDir: string, segment: number, options: SegmentActivityOptions) =>
  Effect.gen(function*() {
    const attemptId = newAttemptId()
    // Written by the process's callbacks on the event loop, read by the watch below: a
    // progress line is never a database write of its own, so a chatty segment costs nothing.
    let latest: SegmentProgress | SegmentCheckpoint | undefined
    let lastCheckpoint: string | undefined
    let pid: number | undefined
    let written: unknown
    const flush = Effect.suspend(() => {
      const update = {
        ...(latest?.type === "progress" ? { step: latest.step, steps_per_second: latest.stepsPerSecond } : {}),
        ...(lastCheckpoint !== undefined ? { last_checkpoint: lastCheckpoint } : {}),
        ...(pid !== undefined ? { segment_pid: pid } : {})
      }
      const key = JSON.stringify(update)
      if (key === written) return Effect.void
      written = key
      return updateRun(runId, update)
    })
    yield* updateRun(runId, { state: "running", segment, segment_pid: null })
    yield* appendRunEvent(runId, `segment ${segment} started`)
    // Polls the row: a pause or cancel is a row written by another process, so there is
    // nothing to await. A pause, or a cancel with a checkpoint, asks the process to
    // checkpoint now and end the segment there; the workflow then pauses or cancels.
    const checkpointAsked = yield* Deferred.make<void>()
    const cancelled = Effect.gen(function*() {
      while (true) {
        yield* Effect.sleep(options.watchEvery ?? Duration.millis(500))
        yield* flush
        const row = yield* findRun(runId)
        if (row === undefined || row.control === "cancel") return "cancelled" as const
        const stopAt = row.control === "pause" ? "pause" : row.control === "cancel-checkpoint" ? "cancel" : undefined
        if (stopAt !== undefined && (yield* Deferred.succeed(checkpointAsked, undefined))) {
          yield* appendRunEvent(runId, `segment ${segment}: ${stopAt} asked, checkpointing after the step it is on`)
        }
      }
    })
    const ended = yield* Effect.raceFirst(
      runSegment({
        runDir,
        attemptId,
        entry: options.entry,
        onSpawn: (started) => (pid = started),
        checkpointNow: Deferred.await(checkpointAsked),
        onProgress: (line) => {
          latest = line
          if (line.type === "checkpoint") lastCheckpoint = line.name
        }
      }),
      cancelled
    )
    yield* flush
    if (ended === "cancelled") {
      // runSegment was interrupted: its process is gone and its uncommitted blobs removed.
      yield* appendRunEvent(runId, `segment ${segment} stopped: the run was cancelled`)
      return { outcome: "cancelled", step: latest?.step ?? 0, checkpoint: lastCheckpoint ?? null } satisfies SegmentOutcome
    }
    return yield* outcomeOf(runId, segment, ended)
  }).pipe(Effect.mapError(toAttemptError(segment)))

/** The journaled outcome of a segment that ended on its own, or its failure. */
const outcomeOf = (runId: string, segment: number, result: SegmentResult) =>
  Effect.gen(function*() {
    const { end } = result
    // A process kept waiting at its checkpoint (no exit code yet) is still the run's.
    const gone = result.exitCode === null ? {} : { segment_pid: null }
    yield* updateRun(runId, { step: end.step, ...gone, ...(end.checkpoint !== null ? { last_checkpoint: end.checkpoint } : {}) })
    if (end.outcome === "failed") {
      return yield* new SegmentAttemptError({
        segment,
        errorTag: end.errorTag ?? "Defect",
        retryable: end.retryable ?? true,
        message: end.message ?? "the segment failed"
      })
    }
    const by = `attempt ${result.attemptId}${result.continued ? ", continued in its process" : ""}`
    yield* appendRunEvent(runId, `segment ${segment} ended ${end.outcome} at step ${end.step}${end.checkpoint === null ? "" : ` (${end.checkpoint})`}, ${by}`)
    return { outcome: end.outcome, step: end.step, checkpoint: end.checkpoint } satisfies SegmentOutcome
  })

/**
 * The activity for segment `segment` (1-based) of the run: named `segment-<n>`, so a replayed
 * workflow finds the journaled result of every segment that finished.
 */
export const segmentActivity = (runId: string, runDir: string, segment: number, options: SegmentActivityOptions = {}) =>
  Activity.make({
    name: `segment-${segment}`,
    success: SegmentOutcome,
    error: SegmentAttemptError,
    execute: executeSegment(runId, runDir, segment, options)
  })
