import { Effect } from "effect"
import {
  type BlobNotFoundError,
  BlobStore,
  type BlobStoreError,
  type CheckpointManifest,
  ResumeRefusedError,
  type StateRef,
  TrainingClient,
  type UnsafeKeyError
} from "../../ports/index.js"
import { CheckpointDamagedError, committedNames, getHashed, manifestKey, readManifest } from "./checkpoint-store.js"

/** A committed checkpoint whose manifest and blobs were read back and checked. */
export interface VerifiedCheckpoint {
  readonly manifest: CheckpointManifest
  readonly state: StateRef
}

/** Newest first: `final` ends a run, and step names sort by step (zero-padded). */
export const newestFirst = (names: ReadonlyArray<string>): Array<string> =>
  [...names].sort((a, b) => (a === "final" ? 1 : b === "final" ? -1 : a < b ? -1 : 1)).reverse()

/** A blob the manifest names that is gone: damage, not a failing store. */
const missingBlob = (store: BlobStore["Service"], name: string, key: string) =>
  (error: BlobNotFoundError) =>
    new CheckpointDamagedError({
      checkpoint: name,
      key: error.key,
      message: `blob ${key} of checkpoint ${name} in ${store.uri} is missing`,
      cause: error
    })

/**
 * Reads a checkpoint back: its manifest, then each blob, checked against the size and
 * digest the manifest recorded. Proven damage (a manifest that does not decode, a missing
 * or altered blob, a state the manifest does not list) is a `CheckpointDamagedError`; a
 * store that cannot be read fails with its own error.
 */
export const readCheckpoint = (store: BlobStore["Service"], name: string) =>
  Effect.gen(function*() {
    const manifest = yield* readManifest(store, name)
    const blobs = new Map<string, Uint8Array>()
    for (const blob of manifest.blobs) {
      const { bytes, sha256: digest } = yield* getHashed(store, blob.key).pipe(
        Effect.catchTag("BlobNotFoundError", (e) => Effect.fail(missingBlob(store, name, blob.key)(e)))
      )
      if (bytes.byteLength !== blob.bytes || digest !== blob.sha256) {
        return yield* new CheckpointDamagedError({
          checkpoint: name,
          key: blob.key,
          message: `blob ${blob.key} of checkpoint ${name} in ${store.uri} is damaged: ` +
            `${bytes.byteLength} bytes with sha256 ${digest.slice(0, 12)}…, the manifest recorded ` +
            `${blob.bytes} bytes with sha256 ${blob.sha256.slice(0, 12)}…`
        })
      }
      blobs.set(blob.key, bytes)
    }
    if (manifest.state._tag === "Remote") return { manifest, state: { _tag: "Remote", path: manifest.state.path } } satisfies VerifiedCheckpoint
    const bytes = blobs.get(manifest.state.key)
    if (bytes === undefined) {
      return yield* new CheckpointDamagedError({
        checkpoint: name,
        key: manifestKey(name),
        message: `manifest ${manifestKey(name)} names state ${manifest.state.key} but records no size or digest for it`
      })
    }
    return { manifest, state: { _tag: "Bytes", bytes } } satisfies VerifiedCheckpoint
  })

/**
 * Uncommits a damaged checkpoint: its manifest moves aside to `manifest.damaged.json` (kept
 * for a look later), so the resumed run can write that checkpoint again.
 */
const setAside = (store: BlobStore["Service"], name: string) =>
  Effect.gen(function*() {
    const key = manifestKey(name)
    yield* store.put(`${name}/manifest.damaged.json`, yield* store.get(key))
    yield* store.delete(key)
  })

/**
 * The newest committed checkpoint of the store, with its manifest validated and its blobs
 * checked. A damaged one is an error naming it; with `fallback`, it is set aside (with a
 * warning) and the next older one is tried. Only proven damage falls back: a store that
 * fails to answer is an error whatever `fallback` says, so a passing outage never costs a
 * good checkpoint.
 */
export const newestCheckpoint = (options: { readonly fallback: boolean }) =>
  Effect.gen(function*() {
    const store = yield* BlobStore
    const names = newestFirst(yield* committedNames(store))
    const tryFrom = (
      index: number
    ): Effect.Effect<VerifiedCheckpoint, BlobStoreError | BlobNotFoundError | UnsafeKeyError | CheckpointDamagedError> =>
      readCheckpoint(store, names[index]!).pipe(
        Effect.catchTag("CheckpointDamagedError", (damage) => {
          const older = names[index + 1]
          if (options.fallback && older !== undefined) {
            return Effect.logWarning(`setting damaged checkpoint ${damage.checkpoint} aside (${damage.message}); resuming from ${older}`).pipe(
              Effect.andThen(setAside(store, damage.checkpoint)),
              Effect.andThen(tryFrom(index + 1))
            )
          }
          const hint = older === undefined ? "" : `; pass --fallback to resume from ${older} instead`
          return Effect.fail(new CheckpointDamagedError({ ...damage, message: `${damage.message}${hint}` }))
        })
      )
    if (names.length === 0) {
      return yield* new ResumeRefusedError({ message: `${store.uri} holds no committed checkpoint: there is nothing to resume from` })
    }
    return yield* tryFrom(0)
  })

/** Loads a verified checkpoint's weights and optimizer state into the training client. */
export const restoreCheckpoint = (checkpoint: VerifiedCheckpoint) =>
  Effect.gen(function*() {
    const client = yield* TrainingClient
    yield* Effect.flatMap(client.loadState(checkpoint.state, { optimizer: true }), (pending) => pending.result)
  })
