import { Effect } from "effect"
import {
  type BlobNotFoundError,
  BlobStore,
  BlobStoreError,
  type UnsafeKeyError,
  type CheckpointManifest,
  type StateRef,
  TrainingClient
} from "../ports/index.js"
import { committedNames, manifestKey, readManifest } from "./checkpoint-store.js"

/** A committed checkpoint whose manifest and blobs were read back and checked. */
export interface VerifiedCheckpoint {
  readonly manifest: CheckpointManifest
  readonly state: StateRef
}

// Newest first: `final` ends a run, and step names sort by step (zero-padded).
const newestFirst = (names: ReadonlyArray<string>): Array<string> =>
  [...names].sort((a, b) => (a === "final" ? 1 : b === "final" ? -1 : a < b ? -1 : 1)).reverse()

const sha256 = (bytes: Uint8Array) =>
  Effect.promise(() => crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>)).pipe(
    Effect.map((digest) => Buffer.from(digest).toString("hex"))
  )

/** Reads a checkpoint back: its manifest, then each blob, checked against the size and digest the manifest recorded. */
const verify = (store: BlobStore["Service"], name: string) =>
  Effect.gen(function*() {
    const manifest = yield* readManifest(store, name)
    const blobs = new Map<string, Uint8Array>()
    for (const blob of manifest.blobs) {
      const bytes = yield* store.get(blob.key)
      const digest = yield* sha256(bytes)
      if (bytes.byteLength !== blob.bytes || digest !== blob.sha256) {
        return yield* new BlobStoreError({
          operation: "resume",
          key: blob.key,
          message: `blob ${blob.key} of checkpoint ${name} in ${store.uri} is damaged: ` +
            `${bytes.byteLength} bytes with sha256 ${digest.slice(0, 12)}…, the manifest recorded ` +
            `${blob.bytes} bytes with sha256 ${blob.sha256.slice(0, 12)}…`
        })
      }
      blobs.set(blob.key, bytes)
    }
    const state: StateRef = manifest.state._tag === "Remote"
      ? { _tag: "Remote", path: manifest.state.path }
      : { _tag: "Bytes", bytes: blobs.get(manifest.state.key) ?? (yield* store.get(manifest.state.key)) }
    return { manifest, state } satisfies VerifiedCheckpoint
  })

const describe = (error: BlobStoreError | BlobNotFoundError | UnsafeKeyError): string => {
  switch (error._tag) {
    case "BlobStoreError":
      return error.message
    case "BlobNotFoundError":
      return `${error.key} is missing`
    case "UnsafeKeyError":
      return `${error.key} is not a safe key: ${error.reason}`
  }
}

/**
 * The newest committed checkpoint of the store, with its manifest validated and its blobs
 * checked. A damaged one is an error naming it; with `fallback`, it is uncommitted (its
 * manifest deleted, with a warning) and the next older one is tried.
 */
export const newestCheckpoint = (options: { readonly fallback: boolean }) =>
  Effect.gen(function*() {
    const store = yield* BlobStore
    const names = newestFirst(yield* committedNames(store))
    const fail = (key: string, message: string) => Effect.fail(new BlobStoreError({ operation: "resume", key, message }))
    const tryFrom = (index: number): Effect.Effect<VerifiedCheckpoint, BlobStoreError | UnsafeKeyError> =>
      verify(store, names[index]!).pipe(
        Effect.catch((error) => {
          const older = names[index + 1]
          if (options.fallback && older !== undefined) {
            // The resumed run will write this checkpoint again, and a committed name is never
            // overwritten: uncommit it (its manifest goes; its blobs are replaced or orphaned).
            return Effect.logWarning(
              `removing damaged checkpoint ${names[index]} (${describe(error)}); resuming from ${older}`
            ).pipe(
              Effect.andThen(store.delete(manifestKey(names[index]!))),
              Effect.andThen(tryFrom(index + 1))
            )
          }
          const hint = older === undefined ? "" : `; pass --fallback to resume from ${older} instead`
          return fail(error.key, `checkpoint ${names[index]} cannot be resumed from: ${describe(error)}${hint}`)
        })
      )
    if (names.length === 0) return yield* fail("", `${store.uri} holds no committed checkpoint: there is nothing to resume from`)
    return yield* tryFrom(0)
  })

/** Loads a verified checkpoint's weights and optimizer state into the training client. */
export const restoreCheckpoint = (checkpoint: VerifiedCheckpoint) =>
  Effect.gen(function*() {
    const client = yield* TrainingClient
    yield* Effect.flatMap(client.loadState(checkpoint.state, { optimizer: true }), (pending) => pending.result)
  })
