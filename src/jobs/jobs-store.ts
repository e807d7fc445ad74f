/**
 * The job service's tables, beside the runs table in the runs database: uploaded files and
 * fine-tuning jobs, each owned by one tenant. A job's status is not stored here: it is its
 * durable run's state, read from the runs table, so the two can never disagree.
 *
 * Every query takes the tenant: a row of another tenant is as absent as one never written.
 */
import { Effect, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { Int } from "../durable/run-store.js"

/** The shape of an uploaded fine-tuning file's rows: conversations, or preference pairs. */
export const FileFormat = Schema.Literals(["chat", "preference"])
export type FileFormat = typeof FileFormat.Type

/** One uploaded file. `created_at` is epoch milliseconds. */
export const FileRow = Schema.Struct({
  id: Schema.String,
  tenant: Schema.String,
  filename: Schema.String,
  purpose: Schema.String,
  bytes: Int,
  format: FileFormat,
  line_count: Int,
  created_at: Int
})
export type FileRow = typeof FileRow.Type

/** One job. JSON columns hold the request's objects as sent; `created_at` is epoch milliseconds. */
export const JobRow = Schema.Struct({
  id: Schema.String,
  tenant: Schema.String,
  run_id: Schema.String,
  model: Schema.String,
  training_file: Schema.String,
  validation_file: Schema.NullOr(Schema.String),
  method_json: Schema.String,
  metadata_json: Schema.NullOr(Schema.String),
  suffix: Schema.NullOr(Schema.String),
  seed: Int,
  created_at: Int
})
export type JobRow = typeof JobRow.Type

const decodeFiles = Schema.decodeUnknownEffect(Schema.Array(FileRow))
const decodeJobs = Schema.decodeUnknownEffect(Schema.Array(JobRow))

/** Creates the tables if missing (idempotent; the runs tables are `ensureRunTables`'). */
export const ensureJobTables = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS sous_job_files (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    filename TEXT NOT NULL,
    purpose TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    format TEXT NOT NULL,
    line_count INTEGER NOT NULL,
    created_at BIGINT NOT NULL
  )`
  yield* sql`CREATE TABLE IF NOT EXISTS sous_jobs (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    run_id TEXT NOT NULL,
    model TEXT NOT NULL,
    training_file TEXT NOT NULL,
    validation_file TEXT,
    method_json TEXT NOT NULL,
    metadata_json TEXT,
    suffix TEXT,
    seed INTEGER NOT NULL,
    created_at BIGINT NOT NULL
  )`
  yield* sql`CREATE INDEX IF NOT EXISTS sous_jobs_tenant ON sous_jobs (tenant, created_at, id)`
})

/** Records an uploaded file. */
export const insertFile = (row: FileRow) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql`INSERT INTO sous_job_files ${sql.insert({ ...row })}`.pipe(Effect.asVoid))

/** The tenant's file with this id, if any. */
export const findFile = (tenant: string, id: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* decodeFiles(yield* sql`SELECT * FROM sous_job_files WHERE id = ${id} AND tenant = ${tenant}`).pipe(Effect.orDie)
    return rows[0]
  })

/** The tenant's files, newest first. */
export const listFiles = (tenant: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* decodeFiles(yield* sql`SELECT * FROM sous_job_files WHERE tenant = ${tenant} ORDER BY created_at DESC, id DESC`).pipe(
      Effect.orDie
    )
  })

/** Records a job (its run already submitted). */
export const insertJob = (row: JobRow) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql`INSERT INTO sous_jobs ${sql.insert({ ...row })}`.pipe(Effect.asVoid))

/** The tenant's job with this id, if any. */
export const findJob = (tenant: string, id: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* decodeJobs(yield* sql`SELECT * FROM sous_jobs WHERE id = ${id} AND tenant = ${tenant}`).pipe(Effect.orDie)
    return rows[0]
  })

/** A page of the tenant's jobs, newest first: up to `limit` after the job `after` (an id), and whether more follow. */
export const pageJobs = (tenant: string, options: { readonly limit: number; readonly after?: string | undefined }) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const anchor = options.after === undefined ? undefined : yield* findJob(tenant, options.after)
    const rows = yield* decodeJobs(
      anchor === undefined
        ? yield* sql`SELECT * FROM sous_jobs WHERE tenant = ${tenant} ORDER BY created_at DESC, id DESC LIMIT ${options.limit + 1}`
        : yield* sql`SELECT * FROM sous_jobs WHERE tenant = ${tenant}
            AND (created_at < ${anchor.created_at} OR (created_at = ${anchor.created_at} AND id < ${anchor.id}))
            ORDER BY created_at DESC, id DESC LIMIT ${options.limit + 1}`
    ).pipe(Effect.orDie)
    return { jobs: rows.slice(0, options.limit), hasMore: rows.length > options.limit }
  })

/**
 * The jobs of `tenants` whose run is in one of `states` and that have no webhook event yet
 * (for the webhook watcher: each round reads only what it has to queue).
 */
export const endedJobsWithoutEvent = (tenants: ReadonlyArray<string>, states: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    if (tenants.length === 0) return []
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql`SELECT j.*, r.state AS run_state FROM sous_jobs j JOIN sous_runs r ON r.id = j.run_id
      WHERE ${sql.in("j.tenant", tenants)} AND ${sql.in("r.state", states)}
      AND NOT EXISTS (SELECT 1 FROM sous_webhook_events w WHERE w.subject = j.id)`
    const jobs = yield* decodeJobs(rows).pipe(Effect.orDie)
    return jobs.map((job, i) => ({ job, state: String((rows[i] as { run_state: unknown }).run_state) }))
  })
