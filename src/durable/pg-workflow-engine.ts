/**
 * Durable workflows on several processes or machines: effect's cluster workflow engine with
 * runners that share one PostgreSQL database (through `@effect/sql-pg`) and call each other
 * over TCP. Kill a runner and the others take over its workflows.
 */
import { layerClientProtocol, layerSocketServer } from "@effect/platform-node-shared/NodeClusterSocket"
import { PgClient } from "@effect/sql-pg"
import { Layer, Option, Redacted } from "effect"
import {
  RunnerAddress,
  RunnerHealth,
  Runners,
  type Sharding,
  ShardingConfig,
  SocketRunner,
  SqlMessageStorage,
  SqlRunnerStorage
} from "effect/cluster"
import { RpcSerialization } from "effect/rpc"
import type { SocketServer } from "effect/socket"
import type { SqlClient, SqlError } from "effect/sql"
import type { WorkflowEngine } from "effect/workflow"
import { clusterWorkflowEngineLayer, type ShardingOverrides } from "./cluster-workflow-engine.js"

/**
 * Where a runner listens when no address is given: loopback, on effect's default cluster
 * port. Enough for one runner per machine; runners on other machines cannot reach it.
 */
export const defaultPgRunnerAddress = RunnerAddress.make("127.0.0.1", 34431)

/** The database, this runner's address, and any cluster settings to change from effect's defaults. */
export interface PgWorkflowEngineOptions {
  /** `postgres://user:password@host:port/database`. Pass it `Redacted` when it holds a password. */
  readonly url: string | Redacted.Redacted<string>
  /**
   * The address other runners call this one at, recorded in the database next to the shard
   * locks it holds; the runner also listens on it unless `shardingConfig.runnerListenAddress`
   * says otherwise (behind NAT, say). Each live runner needs its own. Defaults to
   * {@link defaultPgRunnerAddress}.
   */
  readonly runnerAddress?: RunnerAddress.RunnerAddress | undefined
  /** Overrides of `ShardingConfig` (lock refresh and expiry, health checks, poll intervals, ...). */
  readonly shardingConfig?: ShardingOverrides | undefined
}

/**
 * The runner side of the cluster: a socket server for the other runners' calls, a socket
 * client to make them, messages and shard locks in SQL, and health checks by ping.
 *
 * effect's own `NodeClusterSocket.layer` (in `@effect/platform-node`) builds the same thing,
 * but that package pulls in undici and, as a required peer, the redis client; only its socket
 * transport is needed here, and it lives in `@effect/platform-node-shared`. Composing it here
 * also keeps the configuration to what the caller passes: effect's version reads `HOST`,
 * `PORT` and other environment variables, which other programs set for their own reasons.
 */
const socketRunnersLayer = (config: ShardingOverrides) =>
  SocketRunner.layer.pipe(
    // Pings runners that stop answering out of the shard assignments (from the one runner
    // hosting the health-check singleton), sooner than their heartbeats expire.
    Layer.provide(RunnerHealth.layerPing.pipe(Layer.provide(Runners.layerRpc))),
    Layer.provide([layerSocketServer, layerClientProtocol]),
    Layer.provideMerge(SqlMessageStorage.layer),
    Layer.provide(SqlRunnerStorage.layer),
    Layer.provide(ShardingConfig.layer(config)),
    Layer.provide(RpcSerialization.layerSchemaBinary())
  )

/**
 * A `WorkflowEngine` whose runners share the PostgreSQL database at `url`: every workflow run,
 * activity result and signal is journaled there (the cluster's tables are created on first
 * use), and each run belongs to the runner holding its shard's lock. Runners find each other
 * through the database: each registers its address there, and a workflow started on one
 * runner is stored and then sent over TCP to the runner that owns it.
 *
 * When a runner dies, its shards go to the survivors once it leaves the assignments: when
 * the health check's ping fails (`runnerHealthCheckInterval`, 1 min by default) or its
 * heartbeat is older than `shardLockExpiration` (35 s by default), whichever comes first.
 * Its advisory locks go with its database sessions. The survivor then replays each run:
 * finished activities return their journaled results, the activity that was running starts
 * again (activities are at least once).
 *
 * Also provides the `SqlClient` (and the `PgClient`), so sous can keep its own tables in the
 * same database, and `Sharding`, to register other cluster entities or see which shards this
 * runner holds.
 *
 * Gotchas:
 * - A runner whose event loop blocks for longer than `shardLockExpiration` loses its shards
 *   while it still runs their activities: keep heavy work off the runner's thread.
 * - The runner's address must be reachable from every other runner, and its port free.
 * - Runners start with `shardingConfig` as given: lowering the lock expiry speeds takeover
 *   but makes a slow database or a busy event loop cost shards. Give every runner the same
 *   `shardsPerGroup`.
 */
export const pgWorkflowEngineLayer = (
  options: PgWorkflowEngineOptions
): Layer.Layer<
  WorkflowEngine.WorkflowEngine | Sharding.Sharding | SqlClient.SqlClient | PgClient.PgClient,
  SqlError.SqlError | SocketServer.SocketServerError
> =>
  clusterWorkflowEngineLayer(
    socketRunnersLayer({
      runnerAddress: Option.some(options.runnerAddress ?? defaultPgRunnerAddress),
      ...options.shardingConfig
    }),
    PgClient.layer({
      url: typeof options.url === "string" ? Redacted.make(options.url) : options.url,
      // Names the runner's sessions in `pg_stat_activity`.
      applicationName: "sous"
    })
  )
