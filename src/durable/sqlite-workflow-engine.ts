/**
 * Durable workflows on one machine: effect's cluster workflow engine, journaling into a
 * SQLite file through {@link sqliteClientLayer}.
 */
import { type Layer, Option, type Config } from "effect"
import { RunnerAddress, SingleRunner } from "effect/cluster"
import type { SqlClient, SqlError } from "effect/sql"
import type { WorkflowEngine } from "effect/workflow"
import { clusterWorkflowEngineLayer, type ShardingOverrides } from "./cluster-workflow-engine.js"
import { type SqliteClientOptions, sqliteClientLayer } from "./sqlite-client.js"

/**
 * The address this machine's runner records on the shard locks it holds.
 *
 * Fixed, and set here rather than left to the cluster: `SingleRunner` otherwise reads it from
 * the `HOST` and `PORT` environment variables, which other programs set for their own
 * reasons. A process restarted with the same address takes the dead one's shard locks back at
 * once; under another address it would wait for them to expire (35 s by default).
 *
 * The same address also means two live processes on one file would both believe they own
 * every shard: run one engine per database file.
 */
export const singleRunnerAddress = RunnerAddress.make("sous-single-runner", 0)

/** The database file, and any cluster settings to change from effect's defaults. */
export interface SqliteWorkflowEngineOptions extends SqliteClientOptions {
  /** Overrides of `ShardingConfig` (lock refresh and expiry, poll intervals, ...). */
  readonly shardingConfig?: ShardingOverrides | undefined
}

/**
 * A `WorkflowEngine` that journals every workflow run, activity result and signal into the
 * SQLite file: `ClusterWorkflowEngine` on `SingleRunner` with SQL runner storage (the
 * cluster's tables are created on first use). Killed and restarted on the same file, it
 * replays unfinished runs: finished activities return their journaled results, the
 * activity that was running starts again (activities are at least once).
 *
 * Also provides the `SqlClient`, so sous can keep its own tables in the same file (see
 * {@link clusterWorkflowEngineLayer}, shared with the PostgreSQL engine).
 *
 * Gotchas:
 * - Every statement shares one connection. An activity annotated
 *   `ClusterSchema.WithTransaction` holds it for its whole run, and the runner's shard-lock
 *   refresh waits behind it: keep such activities short.
 * - Closing the layer releases the shard locks one commit per shard (`shardsPerGroup`, 300 by
 *   default), each synced to disk: about 1.5 to 2.5 s on the test machines. A crash skips it.
 */
export const sqliteWorkflowEngineLayer = (
  options: SqliteWorkflowEngineOptions
): Layer.Layer<WorkflowEngine.WorkflowEngine | SqlClient.SqlClient, SqlError.SqlError | Config.ConfigError> =>
  clusterWorkflowEngineLayer(
    SingleRunner.layer({
      runnerStorage: "sql",
      shardingConfig: { runnerAddress: Option.some(singleRunnerAddress), ...options.shardingConfig }
    }),
    sqliteClientLayer(options)
  )
