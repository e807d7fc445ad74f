import { Effect, Schema } from "effect"
import {
  type BlobStore,
  BlobStoreError,
  CheckpointIndex,
  type CheckpointIndexEntry,
  CheckpointManifest
} from "../ports/index.js"

/** Key of a checkpoint's manifest: its commit point. */
export const manifestKey = (name: string): string => `${name}/manifest.json`

/** Key of the index of committed checkpoints, beside them. */
export const indexKey = "index.json"

const manifestSuffix = "/manifest.json"

const decodeManifest = Schema.decodeUnknownEffect(Schema.fromJsonString(CheckpointManifest))

/** The manifest as the bytes a store keeps (indented JSON, so people can read it). */
export const encodeManifest = (manifest: CheckpointManifest): Uint8Array =>
  new TextEncoder().encode(JSON.stringify(Schema.encodeSync(CheckpointManifest)(manifest), null, 2))

/**
 * Reads and validates one manifest. A missing, truncated or malformed manifest is a
 * `BlobStoreError` naming its key and store.
 */
export const readManifest = (store: BlobStore["Service"], name: string) =>
  Effect.gen(function*() {
    const key = manifestKey(name)
    const bytes = yield* store.get(key)
    return yield* decodeManifest(new TextDecoder().decode(bytes)).pipe(
      Effect.mapError((error) =>
        new BlobStoreError({
          operation: "readManifest",
          key,
          message: `manifest ${key} in ${store.uri} is damaged: ${error.message.split("\n")[0]}`
        })
      )
    )
  })

/** Names of the checkpoints whose manifest exists in the store (committed ones), sorted. */
export const committedNames = (store: BlobStore["Service"]) =>
  Effect.map(
    store.list(""),
    (keys) => keys.filter((key) => key.endsWith(manifestSuffix)).map((key) => key.slice(0, -manifestSuffix.length))
  )

/** Rewrites the index of committed checkpoints (an atomic `put`), oldest first. */
export const writeIndex = (store: BlobStore["Service"], entries: ReadonlyArray<CheckpointIndexEntry>) =>
  store.put(
    indexKey,
    new TextEncoder().encode(
      JSON.stringify(Schema.encodeSync(CheckpointIndex)({
        version: 1,
        checkpoints: [...entries].sort((a, b) => a.step - b.step)
      }), null, 2)
    )
  )
