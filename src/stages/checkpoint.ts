import { Effect } from "effect"
import {
  BlobStore,
  BlobStoreError,
  type CheckpointManifest,
  type ManifestBlob,
  type ManifestState,
  MetricsSink,
  Tokenizer,
  TrainingClient
} from "../ports/index.js"
import { RunKeys } from "./run-keys.js"
import { defineStage, type StageContext } from "./stage.js"

/** What a checkpoint records besides the training state. */
export interface CheckpointConfig {
  /** `final` names the checkpoint `final`; otherwise it is named after the step. */
  readonly final: boolean
  readonly rendererId: string
  readonly dataSeed: number
}

/** Key of a checkpoint's manifest: its commit point. */
export const manifestKey = (name: string): string => `${name}/manifest.json`

const checkpointName = (config: CheckpointConfig, step: number) =>
  config.final ? "final" : `step-${String(step).padStart(8, "0")}`

const sha256 = (bytes: Uint8Array) =>
  Effect.promise(() => crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>)).pipe(
    Effect.map((digest) => Buffer.from(digest).toString("hex"))
  )

/**
 * Saves the training state and commits it: state blobs first, the manifest last, written
 * only if absent. Until the manifest exists the checkpoint does not exist, so a crash at any
 * point leaves the previous checkpoint as the newest committed one.
 */
export const checkpoint = (config: CheckpointConfig) =>
  defineStage({
    name: config.final ? "save-final" : "checkpoint",
    description: config.final ? "save final state (blobs, then manifest)" : "save state (blobs, then manifest)",
    reads: [RunKeys.runInfo, RunKeys.dataCursor, RunKeys.lastCheckpoint, RunKeys.summary],
    writes: [RunKeys.lastCheckpoint, RunKeys.summary],
    run: Effect.fnUntraced(function*(context) {
      const store = yield* BlobStore
      const client = yield* TrainingClient
      const tokenizer = yield* Tokenizer
      const name = checkpointName(config, context.step)
      if (yield* store.exists(manifestKey(name))) {
        return yield* new BlobStoreError({
          operation: "checkpoint",
          key: manifestKey(name),
          message: `checkpoint '${name}' is already committed in ${store.uri}; it is never overwritten`
        })
      }
      const saved = yield* Effect.flatMap(client.saveState(name), (pending) => pending.result)
      const blobs: Array<ManifestBlob> = []
      let state: ManifestState
      if (saved._tag === "Bytes") {
        const key = `${name}/state.bin`
        yield* store.put(key, saved.bytes)
        blobs.push({ key, bytes: saved.bytes.byteLength, sha256: yield* sha256(saved.bytes) })
        state = { _tag: "Blob", key }
      } else {
        state = { _tag: "Remote", path: saved.path }
      }
      const runInfo = context.get(RunKeys.runInfo)
      const summary = context.get(RunKeys.summary)
      const manifest: CheckpointManifest = {
        version: 1,
        name,
        step: context.step,
        dataCursor: context.get(RunKeys.dataCursor),
        dataSeed: config.dataSeed,
        state,
        blobs,
        recipeHash: runInfo.recipeHash,
        rendererId: config.rendererId,
        tokenizerId: tokenizer.id,
        parent: context.get(RunKeys.lastCheckpoint),
        metrics: { ...summary.final, ...summary.lastEval?.metrics },
        createdAt: new Date().toISOString()
      }
      const committed = yield* store.putIfAbsent(manifestKey(name), new TextEncoder().encode(JSON.stringify(manifest, null, 2)))
      if (!committed) {
        return yield* new BlobStoreError({ operation: "checkpoint", key: manifestKey(name), message: "another writer committed this checkpoint first" })
      }
      context.set(RunKeys.lastCheckpoint, name)
      context.set(RunKeys.summary, { ...summary, checkpoints: [...summary.checkpoints, name] })
      yield* (yield* MetricsSink).event({ name: "checkpoint", step: context.step, data: { name, store: store.uri } })
    }),
    // A failed or interrupted save leaves blobs no manifest names; remove them unless committed.
    release: (context: StageContext) =>
      Effect.gen(function*() {
        const store = yield* BlobStore
        const name = checkpointName(config, context.step)
        if (yield* store.exists(manifestKey(name))) return
        for (const key of yield* store.list(`${name}/`)) yield* store.delete(key)
      }).pipe(Effect.ignore)
  })
