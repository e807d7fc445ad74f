/**
 * The runs table: what an operator asks about a durable run (state, progress, the last
 * error) and what it asks of it (pause, cancel), in sous's own tables beside the engine's
 * journal in the same database. The journal is the engine's business and not meant to be
 * read; this is the record people and the CLI read. Progress itself lives in the run's
 * checkpoint store: this table only mirrors it for status.
 *
 * The statements are plain SQL that SQLite and PostgreSQL both take (BIGINT for epoch
 * milliseconds, DOUBLE PRECISION for rates), so the PostgreSQL engine uses them as they are;
 * only the table creation takes a lock there, and BIGINTs decode from whatever the driver gives.
 */
import { Effect, Schema, SchemaTransformation } from "effect"
import { SqlClient } from "effect/sql"

/** Where a run stands. `succeeded`, `failed` and `cancelled` are final. */
export const RunState = Schema.Literals(["queued", "running", "paused", "succeeded", "failed", "cancelled"])
export type RunState = typeof RunState.Type

/** What an operator asked of a run that it has not yet done (`none` once done or never asked). */
/**
 * What a run is asked to do: nothing, pause, cancel, or cancel once the running segment has
 * checkpointed (`cancel-checkpoint`).
 */
export const RunControl = Schema.Literals(["none", "pause", "cancel", "cancel-checkpoint"])
export type RunControl = typeof RunControl.Type

/** Whether `control` asks for a cancel, with or without a checkpoint first. */
export const isCancel = (control: RunControl): boolean => control === "cancel" || control === "cancel-checkpoint"

/** The final states: a run in one of them never changes again. */
export const finalStates: ReadonlyArray<RunState> = ["succeeded", "failed", "cancelled"]

/**
 * SQL gives integers as numbers (SQLite, PostgreSQL's INTEGER), strings or bigints
 * (PostgreSQL's BIGINT, by driver): all decode to numbers. Epoch milliseconds and the other
 * BIGINTs here stay far below 2^53, so nothing is lost.
 */
export const Int = Schema.Union([
  Schema.Number,
  Schema.NumberFromString,
  Schema.BigInt.pipe(Schema.decodeTo(Schema.Number, SchemaTransformation.transform({ decode: Number, encode: BigInt })))
])

/** One row of `sous_runs`, decoded. Times are epoch milliseconds. */
export const RunRow = Schema.Struct({
  id: Schema.String,
  run_dir: Schema.String,
  state: RunState,
  control: RunControl,
  segment: Int,
  step: Int,
  steps_per_second: Schema.Number,
  total_steps: Schema.NullOr(Int),
  last_checkpoint: Schema.NullOr(Schema.String),
  last_error: Schema.NullOr(Schema.String),
  segment_pid: Schema.NullOr(Int),
  max_attempts: Int,
  backoff_ms: Int,
  created_at: Int,
  updated_at: Int,
  finished_at: Schema.NullOr(Int)
})
export type RunRow = typeof RunRow.Type

/** One line of a run's own log (`sous logs`): what the workflow did, not what training wrote. */
export const RunEventRow = Schema.Struct({ at: Int, message: Schema.String })
export type RunEventRow = typeof RunEventRow.Type

const decodeRows = Schema.decodeUnknownEffect(Schema.Array(RunRow))
const decodeEvents = Schema.decodeUnknownEffect(Schema.Array(RunEventRow))

const createRunTables = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS sous_runs (
    id TEXT PRIMARY KEY,
    run_dir TEXT NOT NULL,
    state TEXT NOT NULL,
    control TEXT NOT NULL DEFAULT 'none',
    segment INTEGER NOT NULL DEFAULT 0,
    step INTEGER NOT NULL DEFAULT 0,
    steps_per_second DOUBLE PRECISION NOT NULL DEFAULT 0,
    total_steps INTEGER,
    last_checkpoint TEXT,
    last_error TEXT,
    segment_pid INTEGER,
    max_attempts INTEGER NOT NULL,
    backoff_ms BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    finished_at BIGINT
  )`
  yield* sql`CREATE TABLE IF NOT EXISTS sous_run_events (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at BIGINT NOT NULL,
    message TEXT NOT NULL
  )`
  yield* sql`CREATE INDEX IF NOT EXISTS sous_run_events_run ON sous_run_events (run_id, seq)`
})

/** Creates sous's tables if missing: idempotent, run by every entry point before it reads or writes. */
export const ensureRunTables = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // PostgreSQL's CREATE ... IF NOT EXISTS is not safe against itself: two workers starting at
  // once can both try to create a table and one fails on the catalog's unique index. A lock
  // held for the transaction (its number is arbitrary, sous's own) makes them take turns.
  // (SQLite's write lock already does.)
  yield* sql.onDialectOrElse({
    pg: () => sql.withTransaction(Effect.andThen(sql`SELECT pg_advisory_xact_lock(507531)`.pipe(Effect.asVoid), createRunTables)),
    orElse: () => createRunTables
  })
})

/**
 * How often a segment that fails for a reason that may pass is tried, in all, and the wait
 * before the second try, doubled before each one after. Bad input is never tried again.
 */
export interface RetryPolicy {
  readonly attempts: number
  readonly backoffMillis: number
}

/** Three tries, 1 s then 2 s apart. */
export const defaultRetryPolicy: RetryPolicy = { attempts: 3, backoffMillis: 1_000 }

/** A new run, `queued`. */
export const insertRun = (run: {
  readonly id: string
  readonly runDir: string
  readonly totalSteps: number | null
  readonly retry: RetryPolicy
}) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const now = Date.now()
    yield* sql`INSERT INTO sous_runs ${
      sql.insert({
        id: run.id,
        run_dir: run.runDir,
        state: "queued",
        control: "none",
        total_steps: run.totalSteps,
        max_attempts: run.retry.attempts,
        backoff_ms: run.retry.backoffMillis,
        created_at: now,
        updated_at: now
      })
    }`
  })

/** The run's row, if there is one. */
export const findRun = (id: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* decodeRows(yield* sql`SELECT * FROM sous_runs WHERE id = ${id}`).pipe(Effect.orDie)
    return rows[0]
  })

/** Every run, newest first; only those in `states` when given. */
export const listRunRows = (states?: ReadonlyArray<RunState>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = states === undefined
      ? yield* sql`SELECT * FROM sous_runs ORDER BY created_at DESC, id`
      : yield* sql`SELECT * FROM sous_runs WHERE ${sql.in("state", states)} ORDER BY created_at, id`
    return yield* decodeRows(rows).pipe(Effect.orDie)
  })

/** Changes of a row; `updated_at` is set on every one. */
export interface RunUpdate {
  readonly state?: RunState
  readonly control?: RunControl
  readonly segment?: number
  readonly step?: number
  readonly steps_per_second?: number
  readonly last_checkpoint?: string | null
  readonly last_error?: string | null
  readonly segment_pid?: number | null
  readonly finished_at?: number | null
}

/**
 * Updates the run's row. A run in a final state is never changed (so a workflow replayed
 * after a crash, or a late progress line, cannot bring a finished run back to life).
 */
export const updateRun = (id: string, update: RunUpdate) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`UPDATE sous_runs SET ${sql.update({ ...update, updated_at: Date.now() })}
      WHERE id = ${id} AND ${sql.in("state", ["queued", "running", "paused"])}`
  })

/**
 * Asks the run for `control` unless it is final; resolves with whether the row was changed.
 * Only a row is written: the worker's workflow reads it.
 */
export const requestControl = (id: string, control: RunControl) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const result = yield* sql`UPDATE sous_runs SET control = ${control}, updated_at = ${Date.now()}
      WHERE id = ${id} AND ${sql.in("state", ["queued", "running", "paused"])} RETURNING id`
    return result.length > 0
  })

/** Adds a line to the run's own log. */
export const appendRunEvent = (id: string, message: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // A sequence per run, in portable SQL, so lines of one millisecond keep their order.
    yield* sql`INSERT INTO sous_run_events (run_id, seq, at, message)
      SELECT ${id}, COALESCE(MAX(seq), 0) + 1, ${Date.now()}, ${message} FROM sous_run_events WHERE run_id = ${id}`
  })

/** The run's own log, oldest first. */
export const runEvents = (id: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* decodeEvents(yield* sql`SELECT at, message FROM sous_run_events WHERE run_id = ${id} ORDER BY seq`).pipe(Effect.orDie)
  })

/**
 * Moves a queued run to `running` for the worker that starts its workflow; resolves with
 * whether this call did (a run cancelled while queued is not claimed).
 */
export const claimQueuedRun = (id: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const claimed = yield* sql`UPDATE sous_runs SET state = 'running', updated_at = ${Date.now()}
      WHERE id = ${id} AND state = 'queued' AND control NOT IN ('cancel', 'cancel-checkpoint') RETURNING id`
    return claimed.length > 0
  })

/** Cancels the run if it is still queued (no workflow started); resolves with whether it did. */
export const cancelIfQueued = (id: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const now = Date.now()
    const cancelled = yield* sql`UPDATE sous_runs SET state = 'cancelled', control = 'none', updated_at = ${now}, finished_at = ${now}
      WHERE id = ${id} AND state = 'queued' RETURNING id`
    return cancelled.length > 0
  })
