/**
 * What the SQLite and PostgreSQL workflow engines share: effect's `ClusterWorkflowEngine` on
 * some runner layer, journaling through an `effect/sql` client. The engines differ only in the
 * client and in how runners find each other.
 */
import { Layer } from "effect"
import { ClusterWorkflowEngine, type MessageStorage, type Sharding, type ShardingConfig } from "effect/cluster"
import { Digest } from "effect/crypto"
import type { SqlClient } from "effect/sql"
import type { WorkflowEngine } from "effect/workflow"

/** Overrides of effect's `ShardingConfig` defaults (lock refresh and expiry, poll intervals, ...). */
export type ShardingOverrides = Partial<ShardingConfig.ShardingConfig["Service"]>

/**
 * A `WorkflowEngine` that journals every workflow run, activity result and signal through the
 * SQL client of `sql`, with `runners` deciding which process runs which workflow. The
 * client's services are provided too, so sous can keep its own tables in the same database,
 * and so is `Sharding`, for code that registers its own cluster entities or asks which shards
 * this runner holds.
 *
 * Message deduplication keys longer than 255 characters are hashed with SHA-256 from
 * `crypto.subtle` (effect's `Digest.layerWebCrypto`; Node 24 has it built in), so no platform
 * package is needed for it.
 */
export const clusterWorkflowEngineLayer = <Sql, RunnersError, SqlError>(
  runners: Layer.Layer<Sharding.Sharding | MessageStorage.MessageStorage, RunnersError, SqlClient.SqlClient | Digest.Digest>,
  sql: Layer.Layer<Sql | SqlClient.SqlClient, SqlError>
): Layer.Layer<
  WorkflowEngine.WorkflowEngine | Sharding.Sharding | Sql | SqlClient.SqlClient,
  RunnersError | SqlError
> =>
  ClusterWorkflowEngine.layer.pipe(
    Layer.provideMerge(runners),
    Layer.provide(Digest.layerWebCrypto),
    Layer.provideMerge(sql)
  )
