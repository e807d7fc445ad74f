/**
 * One attempt, as the segment process runs it: from the newest committed checkpoint of the
 * run's store (or the start), one segment after another (each up to the next checkpoint it
 * commits) for as long as it is told to go on, or to the run's end, with its metrics and
 * events in a directory of its own.
 */
import { mkdir } from "node:fs/promises"
import { Cause, Effect, Exit } from "effect"
import { checkCredentials } from "../../kitchen/checks.js"
import { runRecipeFile } from "../../kitchen/run-directory.js"
import type { CommittedCheckpoint } from "../../kitchen/options.js"
import { type KitchenResult, resumeRecipe, runFinished, runRecipe } from "../../kitchen/run.js"
import { checkpointStoreLayer } from "../../kitchen/sources.js"
import { describeFailure } from "../../ports/describe-error.js"
import { messageOf } from "../../ports/thrown-message.js"
import { type CheckpointManifest } from "../../ports/index.js"
import type { Recipe } from "../../recipes/recipe.js"
import { adoptCommitted } from "./adopt-committed.js"
import { attemptDirectory, attemptsDirectory, isAttemptId, runCheckpointStore } from "./attempt-directory.js"
import { newestManifest, sweepAttemptBlobs } from "./attempt-store.js"
import { checkpointWriter } from "./checkpoint-writer.js"
import { makeProgressReporter } from "./progress-reporter.js"
import { loadRunRecipe } from "./run-recipe.js"
import { errorTagOf, isRetryable, SegmentInputError } from "./segment-errors.js"
import type { SegmentEnd, SegmentLine } from "./segment-protocol.js"

/** What an attempt is told. */
export interface AttemptOptions {
  /** The run directory: its `recipe.json`, its checkpoint store, its adopted metrics. */
  readonly runDir: string
  /** This attempt's id, never used before in this run (see `newAttemptId`). */
  readonly attemptId: string
  /** Receives the protocol lines as they come: progress and commits. */
  readonly report: (line: SegmentLine) => void
  /**
   * Asked after each checkpoint the attempt commits (but `final`), the run held there until
   * it answers: `continue` runs the next segment, `stop` ends the attempt (`checkpoint`).
   */
  readonly afterCheckpoint: (checkpoint: CommittedCheckpoint) => Effect.Effect<"continue" | "stop">
  /** Asked after each step but the last: true checkpoints there, off the recipe's schedule. */
  readonly checkpointAsked: () => boolean
}

const failed = (error: unknown, step: number, checkpoint: string | null): SegmentEnd => ({
  type: "end",
  outcome: "failed",
  step,
  checkpoint,
  message: describeFailure(error),
  errorTag: errorTagOf(error),
  retryable: isRetryable(error)
})

/** Creates the attempt's directory; one that exists belongs to another execution. */
const makeAttemptDirectory = (runDir: string, attemptId: string) =>
  Effect.tryPromise({
    try: async () => {
      await mkdir(attemptsDirectory(runDir), { recursive: true })
      await mkdir(attemptDirectory(runDir, attemptId))
    },
    catch: (cause) =>
      new SegmentInputError({ message: `cannot make the directory of attempt ${attemptId}: ${messageOf(cause)}`, cause })
  })

/**
 * How a training run that failed ends: `lost` when another attempt committed a checkpoint
 * while this one ran (this attempt's commit found it there, or a fresh start found the store
 * taken), after deleting any blob of its own that no manifest names; `failed` otherwise.
 */
const afterFailure = (recipe: Recipe, options: AttemptOptions, start: CheckpointManifest | undefined, error: unknown, step: number) =>
  Effect.gen(function*() {
    const { runDir, attemptId } = options
    const newest = yield* Effect.result(newestManifest)
    const advanced = newest._tag === "Success" && newest.success !== undefined && newest.success.name !== start?.name
    const writer = advanced ? yield* Effect.promise(() => checkpointWriter(runDir, newest.success!).catch(() => undefined)) : undefined
    if (advanced && writer !== attemptId) {
      const deleted = yield* sweepAttemptBlobs(attemptId).pipe(Effect.orElseSucceed((): Array<string> => []))
      if (deleted.length > 0) yield* Effect.logInfo(`attempt ${attemptId} lost the race to commit; deleted ${deleted.join(", ")}`)
      return { type: "end", outcome: "lost", step, checkpoint: newest.success!.name } satisfies SegmentEnd
    }
    yield* sweepAttemptBlobs(attemptId).pipe(Effect.ignore)
    return failed(error, step, start?.name ?? null)
  }).pipe(Effect.provide(checkpointStoreLayer(recipe, options.runDir)))

const ended = (result: KitchenResult): SegmentEnd =>
  result.stoppedAfter === undefined
    ? { type: "end", outcome: "finished", step: result.step, checkpoint: "final" }
    : { type: "end", outcome: "checkpoint", step: result.stoppedAfter.step, checkpoint: result.stoppedAfter.name }

/**
 * Runs one attempt and resolves with how it ended; it never fails. First it brings the run's
 * files up to the newest committed checkpoint (see `adoptCommitted`: what this attempt builds
 * on is adopted before it can commit anything after it), then it resumes the run from that
 * checkpoint with the kitchen, its metrics in `<runDir>/attempts/<attemptId>/`, its blobs
 * tagged with its id, asking `afterCheckpoint` after each commit whether to go on. A run
 * already finished ends at once.
 */
export const runAttempt = (options: AttemptOptions): Effect.Effect<SegmentEnd> =>
  Effect.gen(function*() {
    const { runDir, attemptId } = options
    if (!isAttemptId(attemptId)) {
      return yield* new SegmentInputError({ message: `attempt id ${JSON.stringify(attemptId)} is not 1 to 64 letters, digits, _ or -` })
    }
    const recipe = yield* loadRunRecipe(runDir)
    yield* checkCredentials(recipe, runRecipeFile(runDir))
    const start = yield* newestManifest.pipe(Effect.provide(checkpointStoreLayer(recipe, runDir)))
    if (start?.name === "final" && (yield* runFinished(recipe, runDir))) {
      return { type: "end", outcome: "finished", step: start.step, checkpoint: "final" } satisfies SegmentEnd
    }
    yield* adoptCommitted(runDir, recipe)
    yield* makeAttemptDirectory(runDir, attemptId)
    const reporter = makeProgressReporter(options.report)
    const kitchen = {
      runDir: attemptDirectory(runDir, attemptId),
      checkpointStore: runCheckpointStore(runDir),
      trackerHome: runDir,
      attemptId,
      afterCheckpoint: options.afterCheckpoint,
      checkpointAsked: options.checkpointAsked,
      sinks: [reporter.sink]
    }
    // From the start when the store held nothing: a checkpoint another attempt commits
    // meanwhile makes this one's store check fail, and it ends `lost`.
    const exit = yield* Effect.exit(
      start === undefined ? runRecipe(recipe, kitchen) : resumeRecipe(recipe, { ...kitchen, fallback: false })
    )
    if (Exit.isSuccess(exit)) return ended(exit.value)
    const step = reporter.lastStep() ?? start?.step ?? 0
    if (Cause.hasInterruptsOnly(exit.cause)) {
      return { ...failed(new Error("the segment was interrupted"), step, start?.name ?? null), errorTag: "Interrupted", retryable: true }
    }
    return yield* afterFailure(recipe, options, start, Cause.squash(exit.cause), step)
  }).pipe(Effect.catch((error) => Effect.succeed(failed(error, 0, null))))
