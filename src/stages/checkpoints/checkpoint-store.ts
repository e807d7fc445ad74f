import { createHash } from "node:crypto"
import { Effect, Schema } from "effect"
import {
  type BlobStore,
  CheckpointIndex,
  type CheckpointIndexEntry,
  CheckpointManifest
} from "../../ports/index.js"

/** Key of a checkpoint's manifest: its commit point. */
export const manifestKey = (name: string): string => `${name}/manifest.json`

/** Key of the index of committed checkpoints, beside them. */
export const indexKey = "index.json"

const manifestSuffix = "/manifest.json"

const decodeManifest = Schema.decodeUnknownEffect(Schema.fromJsonString(CheckpointManifest))

/** A committed checkpoint that cannot be resumed from, and why (`key` names the bad part). */
export class CheckpointDamagedError extends Schema.TaggedError<CheckpointDamagedError>()("CheckpointDamagedError", {
  checkpoint: Schema.String,
  key: Schema.String,
  message: Schema.String,
  /** What proved the damage (the manifest's decoding error, the missing blob), for `--verbose`. */
  cause: Schema.optional(Schema.Defect())
}) {}

/**
 * Hex SHA-256 of bytes: what manifests record of each blob. node:crypto, not WebCrypto: it
 * hashes the caller's bytes in place, where `crypto.subtle.digest` copies them first, and runs
 * about twice as fast.
 */
export const sha256 = (bytes: Uint8Array) => Effect.sync(() => createHash("sha256").update(bytes).digest("hex"))

/** The length in bytes of the concatenation of `pieces`. */
export const piecesLength = (pieces: ReadonlyArray<Uint8Array>): number => pieces.reduce((total, piece) => total + piece.byteLength, 0)

/** The bytes of which `pieces` are parts, in order: the one piece itself, or a joined copy. */
export const joinPieces = (pieces: ReadonlyArray<Uint8Array>): Uint8Array => {
  if (pieces.length === 1) return pieces[0]!
  const joined = new Uint8Array(piecesLength(pieces))
  let offset = 0
  for (const piece of pieces) {
    joined.set(piece, offset)
    offset += piece.byteLength
  }
  return joined
}

/**
 * Puts a blob, the concatenation of `pieces`, and answers its hex SHA-256: written from the
 * pieces and hashed as it is written where the store can, else joined, hashed, then put.
 */
export const putHashed = (store: BlobStore["Service"], key: string, pieces: ReadonlyArray<Uint8Array>) =>
  store.putHashed?.(key, pieces) ??
    Effect.suspend(() => {
      const bytes = joinPieces(pieces)
      return Effect.flatMap(sha256(bytes), (digest) => Effect.as(store.put(key, bytes), digest))
    })

/** Gets a blob with its hex SHA-256, hashed as it is read where the store can. */
export const getHashed = (store: BlobStore["Service"], key: string) =>
  store.getHashed?.(key) ??
    Effect.flatMap(store.get(key), (bytes) => Effect.map(sha256(bytes), (digest) => ({ bytes, sha256: digest })))

/** The `version` a manifest's JSON claims, when it is JSON with a number there. */
const claimedVersion = (text: string): unknown => {
  try {
    return (JSON.parse(text) as { version?: unknown }).version
  } catch {
    return undefined
  }
}

/** The manifest as the bytes a store keeps (indented JSON, so people can read it). */
export const encodeManifest = (manifest: CheckpointManifest): Uint8Array =>
  new TextEncoder().encode(JSON.stringify(Schema.encodeSync(CheckpointManifest)(manifest), null, 2))

/**
 * Reads and validates one manifest. A truncated or malformed one is a
 * `CheckpointDamagedError` naming its key and store; one of another manifest version says
 * so; a store that cannot be read fails with its own error.
 */
export const readManifest = (store: BlobStore["Service"], name: string) =>
  Effect.gen(function*() {
    const key = manifestKey(name)
    const text = new TextDecoder().decode(yield* store.get(key))
    return yield* decodeManifest(text).pipe(
      Effect.mapError((error) => {
        const version = claimedVersion(text)
        const message = typeof version === "number" && version !== 2
          ? `manifest ${key} in ${store.uri} is of version ${version}, written by another version of sous (this one reads version 2)`
          : `manifest ${key} in ${store.uri} is damaged: ${error.message.split("\n")[0]}`
        return new CheckpointDamagedError({ checkpoint: name, key, message, cause: error })
      })
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
