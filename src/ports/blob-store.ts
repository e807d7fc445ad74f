import { Context, type Effect } from "effect"
import { UnsafeKeyError, type BlobNotFoundError, type BlobStoreError } from "./errors.js"

/**
 * A flat store of byte blobs under `/`-separated keys: local disk, memory, S3, a model hub.
 * `put` is atomic: a reader sees the old blob or the whole new one, never a part.
 */
export class BlobStore extends Context.Service<BlobStore, {
  /** Where the store lives, for messages (`file:///runs/a`, `memory://`). */
  readonly uri: string
  readonly get: (key: string) => Effect.Effect<Uint8Array, BlobStoreError | BlobNotFoundError | UnsafeKeyError>
  readonly put: (key: string, bytes: Uint8Array) => Effect.Effect<void, BlobStoreError | UnsafeKeyError>
  /**
   * `get` that also answers the blob's hex SHA-256, hashed as it is read rather than in a
   * pass of its own. For stores that can overlap the two (the filesystem); callers hash what
   * `get` answers where it is left out.
   */
  readonly getHashed?: (key: string) => Effect.Effect<
    { readonly bytes: Uint8Array; readonly sha256: string },
    BlobStoreError | BlobNotFoundError | UnsafeKeyError
  >
  /**
   * `put` of the concatenation of `pieces`, written from where they lie without joining them,
   * that answers its hex SHA-256, hashed as it is written; optional, as `getHashed`.
   */
  readonly putHashed?: (key: string, pieces: ReadonlyArray<Uint8Array>) => Effect.Effect<string, BlobStoreError | UnsafeKeyError>
  /** Writes only if no blob has the key; answers whether it wrote. */
  readonly putIfAbsent: (key: string, bytes: Uint8Array) => Effect.Effect<boolean, BlobStoreError | UnsafeKeyError>
  readonly exists: (key: string) => Effect.Effect<boolean, BlobStoreError | UnsafeKeyError>
  /** Keys that start with `prefix`, sorted. */
  readonly list: (prefix: string) => Effect.Effect<ReadonlyArray<string>, BlobStoreError | UnsafeKeyError>
  readonly delete: (key: string) => Effect.Effect<void, BlobStoreError | UnsafeKeyError>
  /**
   * Writes `blobs` and then `commitKey` as one atomic unit, only if no blob has `commitKey`;
   * answers whether it wrote. For stores that can commit several files at once (the Hub);
   * the others leave it out and callers `put` each blob and then `putIfAbsent` the commit key.
   */
  readonly commitIfAbsent?: (
    blobs: ReadonlyArray<{ readonly key: string; readonly bytes: Uint8Array }>,
    commitKey: string,
    commitBytes: Uint8Array,
    message: string
  ) => Effect.Effect<boolean, BlobStoreError | UnsafeKeyError>
}>()("sous/ports/BlobStore") {}

// Control characters, including DEL; a key holding one could forge log lines or paths.
const controlCharacter = /[\u0000-\u001f\u007f]/

/**
 * Rejects keys that could escape a store's prefix. Every adapter calls this first, so the
 * rule is the same on disk, in memory and in the cloud. An empty prefix is allowed for
 * `list`; use `allowEmpty`.
 */
export const validateKey = (key: string, options: { readonly allowEmpty?: boolean } = {}): UnsafeKeyError | undefined => {
  if (key === "") return options.allowEmpty ? undefined : new UnsafeKeyError({ key, reason: "the key is empty" })
  if (controlCharacter.test(key)) return new UnsafeKeyError({ key, reason: "the key holds a control character" })
  if (key.startsWith("/") || key.startsWith("\\") || /^[a-zA-Z]:/.test(key)) {
    return new UnsafeKeyError({ key, reason: "the key is an absolute path" })
  }
  if (key.includes("\\")) return new UnsafeKeyError({ key, reason: "the key holds a backslash" })
  const segments = key.split("/")
  if (segments.some((segment) => segment === ".." || segment === ".")) {
    return new UnsafeKeyError({ key, reason: "the key holds a '.' or '..' segment" })
  }
  if (segments.slice(0, -1).some((segment) => segment === "")) {
    return new UnsafeKeyError({ key, reason: "the key holds an empty segment" })
  }
  return undefined
}
