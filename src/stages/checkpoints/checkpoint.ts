import { Context, Effect } from "effect"
import {
  BlobStore,
  BlobStoreError,
  type CheckpointManifest,
  type ManifestBlob,
  type ManifestState,
  MetricsSink,
  Tokenizer,
  TrainingClient
} from "../../ports/index.js"
import { checkpointsToDelete, type RetentionPolicy } from "./checkpoint-retention.js"
import { committedNames, encodeManifest, joinPieces, manifestKey, piecesLength, putHashed, readManifest, sha256, writeIndex } from "./checkpoint-store.js"
import { durableSummary, finiteMetrics } from "./durable-run-state.js"
import { RunKeys } from "../run/run-keys.js"
import { defineStage, type StageContext } from "../run/stage.js"

/** What a checkpoint records besides the training state, and which older ones it keeps. */
export interface CheckpointConfig {
  /** `final` names the checkpoint `final`; otherwise it is named after the step. */
  readonly final: boolean
  readonly rendererId: string
  readonly dataSeed: number
  readonly retention: RetentionPolicy
}

const checkpointName = (config: CheckpointConfig, step: number) =>
  config.final ? "final" : `step-${String(step).padStart(8, "0")}`

/**
 * The attempt a checkpoint is written by, when a run is cut into segments that may run more
 * than once at the same time (the durable engine's activities are at-least-once). Unset by
 * default: `sous run` and `sous resume` write the keys they always wrote. The kitchen sets it
 * from `KitchenOptions.attemptId`.
 */
export const CheckpointAttempt = Context.Reference<string | undefined>("sous/CheckpointAttempt", {
  defaultValue: () => undefined
})

const attemptSuffix = /\.attempt-([A-Za-z0-9_-]+)\.bin$/

// The run id is part of the blob key, so a run never writes a blob that another run's
// manifest names, even when two runs share a store. Two attempts of one segment share the run
// id (they resume from the same manifest), so the attempt id is part of it too: the loser of
// the race to commit then owns a blob of its own, which it can delete without touching the
// winner's.
const stateKey = (name: string, runId: string, attempt: string | undefined) =>
  attempt === undefined ? `${name}/state-${runId}.bin` : `${name}/state-${runId}.attempt-${attempt}.bin`

/** The attempt whose checkpoint stage wrote the state blob `key`, if one was set (see {@link CheckpointAttempt}). */
export const attemptOfStateKey = (key: string): string | undefined => attemptSuffix.exec(key)?.[1]

const isOurs = (store: BlobStore["Service"], key: string, bytes: Uint8Array) =>
  Effect.map(store.get(key), (stored) => stored.byteLength === bytes.byteLength && stored.every((b, i) => b === bytes[i]))

/**
 * After a commit: deletes what the retention policy lets go (each manifest before its
 * blobs, so a crash midway leaves a blob no manifest names, never a manifest without its
 * blobs) and rewrites the index. A manifest that cannot be read is left alone, with a
 * warning. A failure here is logged, not raised: the new checkpoint is committed whatever
 * happens to the old ones. Resume runs it too, for a run that died between a commit and this.
 */
export const retainAndIndex = (store: BlobStore["Service"], newest: string, policy: RetentionPolicy) =>
  Effect.gen(function*() {
    const manifests: Array<CheckpointManifest> = []
    for (const name of yield* committedNames(store)) {
      const read = yield* Effect.result(readManifest(store, name))
      if (read._tag === "Success") manifests.push(read.success)
      else yield* Effect.logWarning(`checkpoint ${name} left out of retention and the index: ${read.failure.message}`)
    }
    const doomed = new Set(checkpointsToDelete(manifests, newest, policy).map((c) => c.name))
    for (const manifest of manifests.filter((m) => doomed.has(m.name))) {
      yield* store.delete(manifestKey(manifest.name))
      yield* Effect.forEach(manifest.blobs, (blob) => store.delete(blob.key), { discard: true })
    }
    yield* writeIndex(
      store,
      manifests.filter((m) => !doomed.has(m.name)).map((m) => ({ name: m.name, step: m.step, createdAt: m.createdAt }))
    )
  }).pipe(Effect.catch((error) => Effect.logWarning(`checkpoint retention or index not updated: ${error.message}`)))

/**
 * Saves the training state and commits it: state blobs first, the manifest last, written
 * only if absent. Until the manifest exists the checkpoint does not exist, so a crash at any
 * point leaves the previous checkpoint as the newest committed one. Writing the blobs and
 * committing is one uninterruptible step: an interruption cannot land between them and
 * have `release` delete a blob that the manifest then names. The manifest also holds what a
 * resumed run needs: this stage's position and the run state after it.
 */
export const checkpoint = (config: CheckpointConfig) =>
  defineStage({
    name: config.final ? "save-final" : "checkpoint",
    description: config.final ? "save final state (blobs, then manifest)" : "save state (blobs, then manifest)",
    reads: [RunKeys.runInfo, RunKeys.dataCursor, RunKeys.lastCheckpoint, RunKeys.summary, RunKeys.dataDigest],
    writes: [RunKeys.lastCheckpoint, RunKeys.summary],
    run: Effect.fnUntraced(function*(context) {
      const store = yield* BlobStore
      const client = yield* TrainingClient
      const tokenizer = yield* Tokenizer
      const runInfo = context.get(RunKeys.runInfo)
      const attempt = yield* CheckpointAttempt
      const name = checkpointName(config, context.step)
      const alreadyCommitted = new BlobStoreError({
        operation: "checkpoint",
        key: manifestKey(name),
        message: `checkpoint '${name}' is already committed in ${store.uri}; it is never overwritten`
      })
      if (yield* store.exists(manifestKey(name))) return yield* alreadyCommitted
      const previous = context.get(RunKeys.summary)
      const summary = { ...previous, checkpoints: [...previous.checkpoints, name] }
      const dataCursor = context.get(RunKeys.dataCursor)
      const createdAt = new Date().toISOString()
      // Where the client lends its state in pieces, they are written where they lie (no joined
      // copy of tens of megabytes); the client waits for the scope, which ends after the commit.
      const { committed, manifest } = yield* Effect.scoped(Effect.gen(function*() {
        const saved = client.lendState === undefined
          ? yield* Effect.flatMap(client.saveState(name), (pending) => pending.result)
          : { _tag: "Pieces" as const, pieces: yield* client.lendState(name) }
        const pieces = saved._tag === "Remote" ? undefined : saved._tag === "Bytes" ? [saved.bytes] : saved.pieces
        const blobs = pieces === undefined ? [] : [{ key: stateKey(name, runInfo.runId, attempt), pieces }]
        const state: ManifestState = saved._tag === "Remote" ? { _tag: "Remote", path: saved.path } : { _tag: "Blob", key: blobs[0]!.key }
        // The blob's digest comes with its put where the store hashes while writing, so the
        // manifest is encoded once the blobs are known.
        const manifestOf = (blobs: ReadonlyArray<ManifestBlob>) =>
          encodeManifest({
            version: 2,
            name,
            step: context.step,
            dataCursor,
            dataSeed: config.dataSeed,
            state,
            blobs,
            recipeHash: runInfo.recipeHash,
            rendererId: config.rendererId,
            tokenizerId: tokenizer.id,
            parent: context.get(RunKeys.lastCheckpoint),
            metrics: finiteMetrics(previous.final),
            resume: {
              position: context.position,
              state: {
                [RunKeys.runInfo.name]: runInfo,
                [RunKeys.dataCursor.name]: dataCursor,
                [RunKeys.summary.name]: durableSummary(summary),
                [RunKeys.lastCheckpoint.name]: name,
                [RunKeys.expectedDataDigest.name]: context.get(RunKeys.dataDigest)
              }
            },
            createdAt
          })
        const recorded = (digests: ReadonlyArray<string>): Array<ManifestBlob> =>
          blobs.map((blob, i) => ({ key: blob.key, bytes: piecesLength(blob.pieces), sha256: digests[i]! }))
        const commit = store.commitIfAbsent
        return yield* Effect.uninterruptible(Effect.gen(function*() {
          // Where the store can, blobs and manifest land together (one commit on the Hub).
          if (commit !== undefined) {
            const joined = blobs.map((blob) => ({ key: blob.key, bytes: joinPieces(blob.pieces) }))
            const manifest = manifestOf(recorded(yield* Effect.forEach(joined, (blob) => sha256(blob.bytes))))
            return { committed: yield* commit(joined, manifestKey(name), manifest, `sous: checkpoint ${name}`), manifest }
          }
          const manifest = manifestOf(recorded(yield* Effect.forEach(blobs, (blob) => putHashed(store, blob.key, blob.pieces))))
          return { committed: yield* store.putIfAbsent(manifestKey(name), manifest), manifest }
        }))
      }))
      // A lost reply can make a store's retried conditional write answer "exists" for our own
      // write: the manifest is ours when it holds exactly our bytes.
      if (!committed && !(yield* isOurs(store, manifestKey(name), manifest))) return yield* alreadyCommitted
      context.set(RunKeys.lastCheckpoint, name)
      context.set(RunKeys.summary, summary)
      // Uninterruptible: an interruption here would drop the stage's writes (the summary naming
      // the checkpoint) although the checkpoint is committed.
      yield* Effect.uninterruptible(retainAndIndex(store, name, config.retention))
      // Committed is committed: a metrics sink that cannot take the event must not fail the stage.
      yield* (yield* MetricsSink).event({ name: "checkpoint", step: context.step, data: { name, store: store.uri } }).pipe(
        Effect.catch((error) => Effect.logWarning(`checkpoint event not recorded: ${error.message}`))
      )
    }),
    // A failed save may leave this run's state blob with no manifest naming it; remove it.
    // A committed manifest that names it keeps it (an interruption after the commit); one that
    // does not was another attempt's, which won the race to commit: this blob is the loser's.
    // A manifest that cannot be read leaves the blob alone.
    release: (context: StageContext) =>
      Effect.gen(function*() {
        const store = yield* BlobStore
        const name = checkpointName(config, context.step)
        const key = stateKey(name, context.get(RunKeys.runInfo).runId, yield* CheckpointAttempt)
        if (yield* store.exists(manifestKey(name))) {
          const committed = yield* readManifest(store, name)
          if (committed.blobs.some((blob) => blob.key === key)) return
        }
        yield* store.delete(key)
      }).pipe(Effect.ignore)
  })
