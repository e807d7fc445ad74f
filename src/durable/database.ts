/**
 * Which database holds durable runs, read from one string (`--db`): a SQLite file path, or a
 * `postgres://` / `postgresql://` URL. Every entry point (the worker and each command) gets
 * its `SqlClient` and, for the worker, its workflow engine from here, so the code path above
 * is the same on both stores.
 */
import * as net from "node:net"
import { PgClient } from "@effect/sql-pg"
import { type Config, Effect, Layer, Redacted } from "effect"
import { RunnerAddress } from "effect/cluster"
import type { SocketServer } from "effect/socket"
import type { SqlClient, SqlError } from "effect/sql"
import type { WorkflowEngine } from "effect/workflow"
import type { ShardingOverrides } from "./cluster-workflow-engine.js"
import { pgWorkflowEngineLayer } from "./pg-workflow-engine.js"
import { sqliteClientLayer } from "./sqlite-client.js"
import { workerLockLayer } from "./worker-lock.js"
import type { WorkerLockError } from "./run-errors.js"
import { sqliteWorkflowEngineLayer } from "./sqlite-workflow-engine.js"

/** Whether `db` names a PostgreSQL database rather than a SQLite file. */
export const isPostgresUrl = (db: string): boolean => /^postgres(ql)?:\/\//i.test(db)

/**
 * `db` as it may be printed: a PostgreSQL URL without its password (nor anything else it
 * cannot parse); a SQLite path as it is.
 */
export const printableDatabase = (db: string): string => {
  if (!isPostgresUrl(db)) return db
  try {
    const url = new URL(db)
    if (url.password !== "") url.password = "***"
    return url.toString()
  } catch {
    return "a postgres:// URL that cannot be parsed"
  }
}

/** What only the worker needs: where its runner listens, and cluster timings. */
export interface EngineOptions {
  /**
   * PostgreSQL only: the address other workers call this one at (each live worker needs its
   * own). Defaults to 127.0.0.1 on a port free when the layer is built.
   */
  readonly runnerAddress?: RunnerAddress.RunnerAddress | undefined
  /** Overrides of effect's `ShardingConfig` (lock expiry, ...). */
  readonly shardingConfig?: ShardingOverrides | undefined
}

/**
 * The two layers a database string gives: the `SqlClient` alone (for the commands, which
 * only read and write rows) and the workflow engine with its `SqlClient` (for the worker).
 * The PostgreSQL URL travels `Redacted`, so its password never reaches a log or an error.
 */
export interface RunsDatabaseLayers {
  readonly kind: "sqlite" | "postgres"
  /** {@link printableDatabase} of the string. */
  readonly printable: string
  readonly sql: Layer.Layer<SqlClient.SqlClient, SqlError.SqlError>
  readonly engine: (
    options?: EngineOptions
  ) => Layer.Layer<
    WorkflowEngine.WorkflowEngine | SqlClient.SqlClient,
    SqlError.SqlError | SocketServer.SocketServerError | Config.ConfigError | WorkerLockError
  >
}

/** A TCP port of 127.0.0.1 free right now, for a runner without `--runner-address`. */
const freeLoopbackPort = Effect.callback<number>((resume) => {
  const server = net.createServer()
  server.once("error", (error) => resume(Effect.die(error)))
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** The layers of the database `db` names (see {@link RunsDatabaseLayers}). */
export const runsDatabaseLayers = (db: string): RunsDatabaseLayers => {
  const printable = printableDatabase(db)
  if (!isPostgresUrl(db)) {
    return {
      kind: "sqlite",
      printable,
      sql: sqliteClientLayer({ filename: db }),
      engine: (options) =>
        sqliteWorkflowEngineLayer({ filename: db, shardingConfig: options?.shardingConfig }).pipe(Layer.provideMerge(workerLockLayer(db)))
    }
  }
  const url = Redacted.make(db)
  return {
    kind: "postgres",
    printable,
    sql: PgClient.layer({ url, applicationName: "sous" }),
    engine: (options) =>
      Layer.unwrap(Effect.gen(function*() {
        // The port is picked when the worker starts, not when the layer is described.
        const runnerAddress = options?.runnerAddress ?? RunnerAddress.make("127.0.0.1", yield* freeLoopbackPort)
        return pgWorkflowEngineLayer({ url, runnerAddress, shardingConfig: options?.shardingConfig })
      }))
  }
}

/**
 * Parses `host:port` (`--runner-address`); `undefined` when it is not one. IPv6 hosts go in
 * brackets (`[::1]:34431`).
 */
export const parseRunnerAddress = (text: string): RunnerAddress.RunnerAddress | undefined => {
  const match = /^(\[[^\]]+\]|[^:\s]+):([0-9]{1,5})$/.exec(text)
  if (match === null) return undefined
  const port = Number(match[2])
  if (port < 1 || port > 65_535) return undefined
  return RunnerAddress.make(match[1]!.replace(/^\[(.*)\]$/, "$1"), port)
}

/**
 * The environment variable that shortens the cluster's takeover timings, for tests only:
 * `SOUS_TEST_FAST_TAKEOVER=1` makes a dead worker's runs move after about 5 s instead of
 * 35 s (effect's shard-lock expiry). Not for production: a worker whose database answers
 * slowly would lose its shards.
 */
export const fastTakeoverVariable = "SOUS_TEST_FAST_TAKEOVER"

/** The timings {@link fastTakeoverVariable} selects; the lock refresh stays under a third of the expiry. */
export const fastTakeoverTimings: ShardingOverrides = {
  shardLockRefreshInterval: "1 second",
  shardLockExpiration: "5 seconds",
  runnerHealthCheckInterval: "1 second",
  refreshAssignmentsInterval: "1 second"
}
