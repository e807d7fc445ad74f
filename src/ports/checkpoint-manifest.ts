import { Schema } from "effect"

/** A blob a checkpoint wrote, with its size and digest so a reader can detect damage. */
export const ManifestBlob = Schema.Struct({
  key: Schema.String,
  bytes: Schema.Int,
  sha256: Schema.String
})
export type ManifestBlob = typeof ManifestBlob.Type

/** Where the training state of a checkpoint lives. */
export const ManifestState = Schema.Union([
  Schema.Struct({ _tag: Schema.Literal("Blob"), key: Schema.String }),
  Schema.Struct({ _tag: Schema.Literal("Remote"), path: Schema.String })
])
export type ManifestState = typeof ManifestState.Type

/** Position in the training data: the epoch and the next example in its order. */
export const DataCursor = Schema.Struct({
  epoch: Schema.Int,
  position: Schema.Int
})
export type DataCursor = typeof DataCursor.Type

/**
 * The commit point of a checkpoint: written last, after every blob it names. A checkpoint
 * without a manifest does not exist.
 */
export const CheckpointManifest = Schema.Struct({
  version: Schema.Literal(1),
  name: Schema.String,
  step: Schema.Int,
  dataCursor: DataCursor,
  dataSeed: Schema.Int,
  state: ManifestState,
  blobs: Schema.Array(ManifestBlob),
  recipeHash: Schema.String,
  rendererId: Schema.String,
  tokenizerId: Schema.String,
  parent: Schema.NullOr(Schema.String),
  metrics: Schema.Record(Schema.String, Schema.Finite),
  createdAt: Schema.String
})
export type CheckpointManifest = typeof CheckpointManifest.Type
