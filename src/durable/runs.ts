/**
 * The library API of durable runs, over a database (a SQLite file or a PostgreSQL URL, see
 * `runsDatabaseLayers`): submit a run, read its status and log, pause, resume and cancel it.
 * Each only reads or writes rows of the runs table, so it may run while workers run (in other
 * processes) on the same database; the workers' workflows read the rows and act on them. The
 * `*Rows` variants need only an `SqlClient`, for a client the caller provides.
 */
import { randomBytes } from "node:crypto"
import { dirname, join, resolve } from "node:path"
import { Effect } from "effect"
import type { SqlClient } from "effect/sql"
import { isPostgresUrl, runsDatabaseLayers } from "./database.js"
import { RunControlError, RunNotFoundError } from "./run-errors.js"
import {
  appendRunEvent,
  cancelIfQueued,
  defaultRetryPolicy,
  ensureRunTables,
  findRun,
  insertRun,
  isCancel,
  listRunRows,
  requestControl,
  type RetryPolicy,
  type RunRow,
  runEvents
} from "./run-store.js"
import { createSegmentedRun } from "./segment/create-run.js"

/** Which database holds the runs: a SQLite file path or a `postgres://` URL. */
export interface RunsDatabase {
  readonly db: string
}

/** Runs `effect` against the runs table of the database `db`, creating the tables if missing. */
export const withRunsDatabase = <A, E>(db: string, effect: Effect.Effect<A, E, SqlClient.SqlClient>) =>
  Effect.andThen(ensureRunTables, effect).pipe(Effect.provide(runsDatabaseLayers(db).sql))

/** What to submit besides the recipe file. */
export interface SubmitOptions extends RunsDatabase {
  /** `path=value` overrides, as `sous run --set` takes them. */
  readonly sets?: ReadonlyArray<string> | undefined
  /**
   * The run directory (default `<db's folder>/sous-runs/<id>` for a SQLite file,
   * `./sous-runs/<id>` for PostgreSQL). Every worker must see it at this path.
   */
  readonly runDir?: string | undefined
  readonly retry?: RetryPolicy | undefined
}

/** A run id: short, sortable by submission time, and safe in a path. */
const newRunId = () => `run-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`

/** Whether `text` has the shape of a durable run's id (`run-<time>-<6 hex digits>`). */
export const isRunId = (text: string): boolean => /^run-[0-9a-z]+-[0-9a-f]{6}$/.test(text)

/** Where and how {@link submitRunRow} queues a run. */
export interface SubmitRowOptions {
  /** `path=value` overrides, as `sous run --set` takes them. */
  readonly sets?: ReadonlyArray<string> | undefined
  /** The run directory; every worker must see it at this path. */
  readonly runDir: string
  readonly retry?: RetryPolicy | undefined
  /** The run's id (default a new one). */
  readonly id?: string | undefined
}

/**
 * Checks the recipe as `sous run` does, writes its run directory, queues the run and resolves
 * with its id (needs an `SqlClient`). A worker on the same database picks it up. A recipe
 * that fails its checks is refused here and queues nothing.
 */
export const submitRunRow = (recipeFile: string, options: SubmitRowOptions) =>
  Effect.gen(function*() {
    const id = options.id ?? newRunId()
    const runDir = resolve(options.runDir)
    const recipe = yield* createSegmentedRun({ recipeFile, sets: options.sets ?? [], runDir })
    const totalSteps = "training" in recipe ? recipe.training.steps ?? null : null
    yield* insertRun({ id, runDir, totalSteps, retry: options.retry ?? defaultRetryPolicy })
    yield* appendRunEvent(id, `submitted ${recipeFile} into ${runDir}`)
    return id
  })

/** {@link submitRunRow} on the database, into `options.runDir` or the default run directory. */
export const submitRun = (recipeFile: string, options: SubmitOptions) => {
  const id = newRunId()
  const home = isPostgresUrl(options.db) ? "." : dirname(resolve(options.db))
  const runDir = options.runDir ?? join(home, "sous-runs", id)
  return withRunsDatabase(options.db, submitRunRow(recipeFile, { sets: options.sets, runDir, retry: options.retry, id }))
}

/** A run's row with what status derives from it. */
export interface RunStatus extends RunRow {
  /** Seconds to the end at the current rate, when the total and a rate are known. */
  readonly etaSeconds: number | undefined
}

const statusOf = (row: RunRow): RunStatus => ({
  ...row,
  etaSeconds: row.total_steps !== null && row.steps_per_second > 0 && row.state === "running"
    ? Math.max(0, row.total_steps - row.step) / row.steps_per_second
    : undefined
})

const rowOrFail = (runId: string) =>
  Effect.flatMap(findRun(runId), (row) =>
    row === undefined ? Effect.fail(new RunNotFoundError({ runId, message: `no run ${runId} in this database` })) : Effect.succeed(row))

/** The run's status (needs an `SqlClient`). */
export const runStatusRow = (runId: string) => Effect.map(rowOrFail(runId), statusOf)

/** The run's status. */
export const runStatus = (runId: string, options: RunsDatabase) => withRunsDatabase(options.db, runStatusRow(runId))

/** Every run, newest first. */
export const listRuns = (options: RunsDatabase) => withRunsDatabase(options.db, Effect.map(listRunRows(), (rows) => rows.map(statusOf)))

/** The run's own log: submission, segments, retries, pause, resume and its end. */
export const runLog = (runId: string, options: RunsDatabase) =>
  withRunsDatabase(options.db, Effect.andThen(rowOrFail(runId), runEvents(runId)))

const refuseFinal = (row: RunRow, what: string) =>
  row.state === "succeeded" || row.state === "failed" || row.state === "cancelled"
    ? Effect.fail(new RunControlError({ runId: row.id, message: `run ${row.id} is ${row.state}: nothing to ${what}` }))
    : Effect.void

/**
 * Asks the run to pause (needs an `SqlClient`): its running segment goes on to its next
 * checkpoint commit and no segment starts until {@link resumeRunRow}. A queued run pauses
 * before its first segment.
 */
export const pauseRunRow = (runId: string) =>
  Effect.gen(function*() {
    yield* refuseFinal(yield* rowOrFail(runId), "pause")
    yield* requestControl(runId, "pause")
    yield* appendRunEvent(runId, "pause requested")
  })

/** Lets a paused run (or one asked to pause) go on (needs an `SqlClient`). */
export const resumeRunRow = (runId: string) =>
  Effect.gen(function*() {
    const row = yield* rowOrFail(runId)
    yield* refuseFinal(row, "resume")
    if (isCancel(row.control)) return yield* new RunControlError({ runId, message: `run ${runId} is being cancelled` })
    yield* requestControl(runId, "none")
    yield* appendRunEvent(runId, "resume requested")
  })

/** How a run is cancelled. */
export interface CancelOptions {
  /** Checkpoint the running segment after the step it is on first, so no step is lost. */
  readonly checkpoint?: boolean | undefined
}

/**
 * Cancels the run (needs an `SqlClient`): a queued run is cancelled at once; a started one's
 * workflow stops its running segment (whose uncommitted files are removed; committed
 * checkpoints stay), after it checkpoints when `options.checkpoint` asks, and marks it
 * `cancelled`.
 */
export const cancelRunRow = (runId: string, options: CancelOptions = {}) =>
  Effect.gen(function*() {
    const row = yield* rowOrFail(runId)
    yield* refuseFinal(row, "cancel")
    yield* requestControl(runId, options.checkpoint === true ? "cancel-checkpoint" : "cancel")
    // A queued run has no workflow to act on the request: it is cancelled here (the worker
    // claims no run with a cancel asked, so the two cannot both win).
    const atOnce = row.state === "queued" && (yield* cancelIfQueued(runId))
    const requested = options.checkpoint === true ? "cancel requested, after a checkpoint" : "cancel requested"
    yield* appendRunEvent(runId, atOnce ? "cancelled before it started" : requested)
  })

/** {@link pauseRunRow} on the database. */
export const pauseRun = (runId: string, options: RunsDatabase) => withRunsDatabase(options.db, pauseRunRow(runId))

/** {@link resumeRunRow} on the database. */
export const resumeRun = (runId: string, options: RunsDatabase) => withRunsDatabase(options.db, resumeRunRow(runId))

/** {@link cancelRunRow} on the database. */
export const cancelRun = (runId: string, options: RunsDatabase & CancelOptions) => withRunsDatabase(options.db, cancelRunRow(runId, options))
