/**
 * Segments: a run carried out as a sequence of segments, each from the newest committed
 * checkpoint to the next commit (or the end), any of which may run more than once, in child
 * processes that live across segments while their checkpoint stays the newest.
 * The durable workflow's activities. Exactly one attempt commits each checkpoint; only its
 * metrics and events become part of the run (adoption); the blobs of a loser are deleted.
 * `createSegmentedRun` is in its own module (`create-run.js`): it loads TensorFlow.js.
 */
export { type AdoptedCheckpoint, adoptCommitted, adoptFinish } from "./adopt-committed.js"
export { attemptDirectory, isAttemptId, newAttemptId } from "./attempt-directory.js"
export { newestManifest, sweepAttemptBlobs } from "./attempt-store.js"
export { checkpointWriter } from "./checkpoint-writer.js"
export { loadRunRecipe } from "./run-recipe.js"
export { runSegment, type RunSegmentOptions, type SegmentResult, runToEnd, type RunToEndOptions } from "./run-segment.js"
export { type KeptSegment, SegmentPool } from "./segment-pool.js"
export { AdoptionError, isRetryable, SegmentCrashedError, SegmentFailedError, SegmentInputError } from "./segment-errors.js"
export {
  parseSegmentLine,
  SegmentCheckpoint,
  SegmentEnd,
  segmentExitCode,
  SegmentLine,
  SegmentProgress,
  SegmentWaiting
} from "./segment-protocol.js"
export { defaultSegmentEntry } from "./spawn-segment.js"
