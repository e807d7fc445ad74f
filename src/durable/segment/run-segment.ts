/**
 * The orchestrator's side of a segment: start its process, follow it, and make what it
 * committed part of the run. Nothing here trains or blocks: the process does the work.
 */
import { Effect, Option } from "effect"
import type { Recipe } from "../../recipes/recipe.js"
import { checkpointStoreLayer } from "../../kitchen/sources.js"
import { type AdoptedCheckpoint, adoptCommitted, adoptFinish } from "./adopt-committed.js"
import { newAttemptId } from "./attempt-directory.js"
import { newestManifest, sweepAttemptBlobs } from "./attempt-store.js"
import { loadRunRecipe } from "./run-recipe.js"
import { SegmentCrashedError, SegmentFailedError } from "./segment-errors.js"
import type { SegmentCheckpoint, SegmentEnd, SegmentProgress } from "./segment-protocol.js"
import { type KeptSegment, SegmentPool } from "./segment-pool.js"
import { defaultSegmentEntry, startSegmentProcess } from "./spawn-segment.js"

/** One segment to run. */
export interface RunSegmentOptions {
  /** The run directory (its `recipe.json` written by `sous run` or `createSegmentedRun`). */
  readonly runDir: string
  /**
   * A fresh id (`newAttemptId`) for a process this segment starts; a retry needs a new one.
   * A segment that continues a kept process runs as that process's attempt.
   */
  readonly attemptId: string
  /** Progress and commits as the process reports them (called on the event loop: keep it short). */
  readonly onProgress?: ((line: SegmentProgress | SegmentCheckpoint) => void) | undefined
  /** The id of the process that runs the segment, once known. */
  readonly onSpawn?: ((pid: number) => void) | undefined
  /** After being told to stop, how long an interrupted segment has to end before SIGKILL (default 10 s). */
  readonly killGraceMillis?: number | undefined
  /** The compiled segment process to run (default: `segment-main.js`, see `defaultSegmentEntry`). */
  readonly entry?: string | undefined
  /**
   * Completes when the segment should checkpoint now, after the step it is on, and end there
   * (a pause): the process is asked to, and the segment ends at that checkpoint.
   */
  readonly checkpointNow?: Effect.Effect<void> | undefined
}

/** How a segment went. */
export interface SegmentResult {
  /** The attempt that ran it: `options.attemptId`, or a kept process's own. */
  readonly attemptId: string
  /** Whether it continued a process kept from the segment before (see `SegmentPool`). */
  readonly continued: boolean
  /** The process's own account: `checkpoint`, `finished`, `lost` or `failed`. */
  readonly end: SegmentEnd
  /** The checkpoints whose metrics and events joined the run after this segment. */
  readonly adopted: ReadonlyArray<AdoptedCheckpoint>
  /**
   * The process's exit code: 0 for `checkpoint` and `finished`, 3 for `lost`, 1 for
   * `failed`; null for a process kept waiting at its checkpoint.
   */
  readonly exitCode: number | null
  /** Milliseconds from the segment's start to its first step's progress line (absent when no step ran). */
  readonly startupMillis: number | undefined
  readonly wallMillis: number
}

/** After the process is gone without a word: its blobs that no manifest names go too. */
const sweep = (recipe: Recipe, runDir: string, attemptId: string) =>
  sweepAttemptBlobs(attemptId).pipe(
    Effect.provide(checkpointStoreLayer(recipe, runDir)),
    Effect.catch((error) => Effect.logWarning(`blobs of attempt ${attemptId} not swept: ${error.message}`))
  )

/**
 * The process for the next segment of `runDir`: the pool's kept one when its checkpoint is
 * still the newest committed one (the state in its memory is the one to start from), else a
 * new one.
 */
const segmentProcess = (recipe: Recipe, options: RunSegmentOptions) =>
  Effect.gen(function*() {
    const pool = yield* Effect.serviceOption(SegmentPool)
    const kept = Option.isSome(pool) ? yield* pool.value.take(options.runDir) : undefined
    if (kept !== undefined) {
      const newest = yield* newestManifest.pipe(Effect.provide(checkpointStoreLayer(recipe, options.runDir)))
      if (newest?.name === kept.checkpoint) return { ...kept, continued: true }
      yield* kept.process.stop
    }
    const process = startSegmentProcess({
      entry: options.entry ?? defaultSegmentEntry(),
      args: [options.runDir, options.attemptId],
      killGraceMillis: options.killGraceMillis ?? 10_000
    })
    return { process, attemptId: options.attemptId, continued: false }
  })

/**
 * Follows the process to the end of the segment. A process waiting at its checkpoint is
 * kept in the pool for the next segment, or, without a pool, told to stop there.
 */
const followSegment = (
  { runDir, onProgress, checkpointNow }: RunSegmentOptions,
  running: Omit<KeptSegment, "checkpoint"> & { readonly continued: boolean }
) =>
  Effect.gen(function*() {
    const asking = checkpointNow === undefined
      ? Effect.void
      : Effect.forkScoped(Effect.andThen(checkpointNow, Effect.sync(() => running.process.send({ type: "checkpoint" }))))
    const leg = yield* Effect.scoped(
      Effect.andThen(asking, running.process.follow(running.continued ? { type: "continue" } : undefined, onProgress))
    )
    if (leg._tag === "Exited") return { exit: leg.exit, startupMillis: leg.startupMillis }
    const { checkpoint, step } = leg.waiting
    const end: SegmentEnd = { type: "end", outcome: "checkpoint", step, checkpoint }
    const pool = yield* Effect.serviceOption(SegmentPool)
    if (Option.isSome(pool)) {
      yield* pool.value.keep(runDir, { process: running.process, attemptId: running.attemptId, checkpoint })
      return { exit: { end, exitCode: null, signal: null, stderrTail: "", notStarted: false }, startupMillis: leg.startupMillis }
    }
    return { exit: yield* running.process.stop, startupMillis: leg.startupMillis }
  })

/**
 * Runs one segment of the run in `runDir` in a segment process (`process.execPath` running
 * the segment entry), a new one or one the `SegmentPool` kept from the segment before, and
 * resolves with its end, whatever the outcome; `failed` included, with its `retryable` flag.
 * Before it starts, the run's files catch up with the store; after it ends, what it committed
 * is adopted (and, when the run finished, its summary). It fails with `SegmentCrashedError`
 * when the process ended without an end line (killed, crashed), after removing the blobs it
 * left uncommitted. Interrupted, it stops the process (then SIGKILL after the grace period),
 * waits for it to be gone, removes its uncommitted blobs and adopts what it committed.
 * Traced as `sous.segment`.
 */
export const runSegment = Effect.fn("sous.segment")(function*(options: RunSegmentOptions) {
  const { runDir } = options
  const startedAt = Date.now()
  const recipe = yield* loadRunRecipe(runDir)
  yield* adoptCommitted(runDir, recipe)
  const running = yield* segmentProcess(recipe, options)
  const { attemptId, continued } = running
  const pid = running.process.pid()
  if (pid !== undefined) options.onSpawn?.(pid)
  const { exit, startupMillis } = yield* followSegment(options, running).pipe(
    // Stopped (a cancel): what it committed before the kill joins the run's files now, since
    // no later segment will adopt it; what it did not commit is removed.
    Effect.onInterrupt(() =>
      Effect.andThen(
        sweep(recipe, runDir, attemptId),
        adoptCommitted(runDir, recipe).pipe(
          Effect.catch((error) => Effect.logWarning(`what ${attemptId} committed was not adopted: ${error.message}`))
        )
      )
    )
  )
  // A process that died may still have committed before it did.
  const adopted = yield* adoptCommitted(runDir, recipe)
  if (exit.end === undefined) {
    yield* sweep(recipe, runDir, attemptId)
    const how = exit.notStarted ? "could not start" : exit.signal !== null ? `was killed by ${exit.signal}` : `exited with ${exit.exitCode}`
    return yield* new SegmentCrashedError({
      attemptId,
      exitCode: exit.exitCode,
      signal: exit.signal,
      message: `segment attempt ${attemptId} of ${runDir} ${how} before it ended: ${exit.stderrTail.trim().split("\n").at(-1) ?? ""}`
    })
  }
  if (exit.end.outcome === "finished") yield* adoptFinish(runDir, attemptId)
  return {
    attemptId,
    continued,
    end: exit.end,
    adopted,
    exitCode: exit.exitCode,
    startupMillis,
    wallMillis: Date.now() - startedAt
  } satisfies SegmentResult
})

/** Options of {@link runToEnd}: those of {@link runSegment} but the attempt id, which it makes. */
export type RunToEndOptions = Omit<RunSegmentOptions, "attemptId"> & {
  /** Gives up after this many segments (default 1000): a guard against a run that never ends. */
  readonly maxSegments?: number
}

/**
 * Runs segments of the run one after another until one ends `finished`, each continuing the
 * process of the one before (a `SegmentPool` of its own) or, after a `lost` one, in a new
 * process with a fresh attempt id. A `failed` one fails with `SegmentFailedError`, a crash
 * with `SegmentCrashedError`: retrying is the caller's choice (the durable workflow's, with
 * its retry policy). Resolves with every segment's result.
 */
export const runToEnd = (options: RunToEndOptions) =>
  Effect.gen(function*() {
    const results: Array<SegmentResult> = []
    const maxSegments = options.maxSegments ?? 1_000
    while (results.length < maxSegments) {
      const result = yield* runSegment({ ...options, attemptId: newAttemptId() })
      results.push(result)
      const { end } = result
      if (end.outcome === "finished") return results
      if (end.outcome === "failed") {
        return yield* new SegmentFailedError({
          attemptId: result.attemptId,
          errorTag: end.errorTag ?? "Defect",
          retryable: end.retryable ?? true,
          message: end.message ?? "the segment failed"
        })
      }
    }
    return yield* new SegmentFailedError({
      attemptId: results.at(-1)?.attemptId ?? "",
      errorTag: "SegmentLimit",
      retryable: false,
      message: `${options.runDir} did not finish in ${maxSegments} segments`
    })
  }).pipe(Effect.provide(SegmentPool.layer))
