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
 * How a run continues from a checkpoint: the position of the stage that wrote it in the
 * workflow tree (the run resumes right after it) and the run state to restore, by key
 * name, as JSON. State that loading and rendering rebuild is not kept.
 */
export const ManifestResume = Schema.Struct({
  position: Schema.Array(Schema.Int),
  state: Schema.Record(Schema.String, Schema.Unknown)
})
export type ManifestResume = typeof ManifestResume.Type

/**
 * The commit point of a checkpoint: written last, after every blob it names. A checkpoint
 * without a manifest does not exist. `dataSeed` and `dataCursor` fix the data order from
 * here on (the order is a pure function of seed and epoch, so they are its RNG state).
 */
export const CheckpointManifest = Schema.Struct({
  version: Schema.Literal(2),
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
  resume: ManifestResume,
  createdAt: Schema.String
})
export type CheckpointManifest = typeof CheckpointManifest.Type

/** One committed checkpoint in the {@link CheckpointIndex}. */
export const CheckpointIndexEntry = Schema.Struct({
  name: Schema.String,
  step: Schema.Int,
  createdAt: Schema.String
})
export type CheckpointIndexEntry = typeof CheckpointIndexEntry.Type

/**
 * The committed checkpoints of a store, oldest first, kept beside them as `index.json`.
 * A convenience for people and tools: the manifests are the truth, and resume reads them.
 */
export const CheckpointIndex = Schema.Struct({
  version: Schema.Literal(1),
  checkpoints: Schema.Array(CheckpointIndexEntry)
})
export type CheckpointIndex = typeof CheckpointIndex.Type
