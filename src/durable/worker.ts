/**
 * The worker: the process that runs durable runs. It holds the workflow engine on the
 * database, so the engine resumes the runs a dead worker left (its journal says which, and
 * which segments already finished), and it starts the queued runs' workflows, a few at a time.
 * One worker per SQLite file: the single-runner engine assumes it owns every shard. On
 * PostgreSQL any number of workers share the database; each runs the runs of the shards it
 * holds, and a dead worker's shards (and runs) move to the others.
 */
import { Duration, Effect, Layer } from "effect"
import type { SqlClient } from "effect/sql"
import type { WorkflowEngine } from "effect/workflow"
import { claimQueuedRun, ensureRunTables, listRunRows, type RunRow } from "./run-store.js"
import { type RunPayload, RunWorkflow, runWorkflowLayer, type RunWorkflowOptions } from "./run-workflow.js"
import { type EngineOptions, runsDatabaseLayers } from "./database.js"

/** How a worker runs. */
export interface WorkerOptions extends RunWorkflowOptions {
  /**
   * How many runs train at once (default 1). Paused runs do not count. The count is of the
   * `running` rows of the whole database, so on PostgreSQL it bounds the runs of every worker
   * together, not of this one: the cluster, not the worker that claims a run, decides where
   * it runs.
   */
  readonly concurrency?: number | undefined
  /** How often the table is looked at for queued runs (default 500 ms). */
  readonly pollEvery?: Duration.Input | undefined
  /** Told each run whose workflow this worker starts or takes over. */
  readonly onStart?: ((runId: string) => void) | undefined
}

const payloadOf = (row: RunRow): RunPayload => ({
  runId: row.id,
  runDir: row.run_dir,
  maxAttempts: row.max_attempts,
  backoffMillis: row.backoff_ms
})

/** Starts the run's workflow, or joins it when the journal already has it (same run id, same execution). */
const start = (row: RunRow, options: WorkerOptions) =>
  Effect.andThen(RunWorkflow.execute(payloadOf(row), { discard: true }), Effect.sync(() => options.onStart?.(row.id)))

/**
 * Runs the worker on an engine and its database until interrupted: first it makes sure every
 * started run (`running`, `paused`) has its workflow (the engine resumes the journaled ones
 * by itself; starting again joins them, and starts one a crash left unjournaled), then it
 * claims queued runs, oldest first, while fewer than `concurrency` are running.
 * Engine-agnostic: `engine` is the SQLite or PostgreSQL layer.
 */
export const runWorkerOn = <E>(
  engine: Layer.Layer<WorkflowEngine.WorkflowEngine | SqlClient.SqlClient, E>,
  options: WorkerOptions = {}
) =>
  Effect.gen(function*() {
    yield* ensureRunTables
    for (const row of yield* listRunRows(["running", "paused"])) yield* start(row, options)
    const concurrency = options.concurrency ?? 1
    while (true) {
      const running = (yield* listRunRows(["running"])).length
      const queued = running < concurrency ? yield* listRunRows(["queued"]) : []
      let free = concurrency - running
      for (const row of queued) {
        if (free <= 0) break
        if (!(yield* claimQueuedRun(row.id))) continue
        yield* start(row, options)
        free--
      }
      yield* Effect.sleep(options.pollEvery ?? Duration.millis(500))
    }
  }).pipe(Effect.provide(runWorkflowLayer(options).pipe(Layer.provideMerge(engine))))

/**
 * {@link runWorkerOn} the engine of the database `db`: a SQLite file (the worker of one
 * machine) or a `postgres://` URL (one of many workers; see `runsDatabaseLayers`). Never
 * completes; interrupting it stops the running segments (their processes are stopped, and
 * the engine runs them again on a live worker).
 */
export const runWorker = (options: WorkerOptions & EngineOptions & { readonly db: string }) =>
  runWorkerOn(runsDatabaseLayers(options.db).engine(options), options)
