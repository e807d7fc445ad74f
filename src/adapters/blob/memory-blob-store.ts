import { Effect, Layer } from "effect"
import { BlobNotFoundError, BlobStore } from "../../ports/index.js"
import { checkBlobKey, checkBlobPrefix } from "./blob-key.js"

/**
 * A {@link BlobStore} held in a `Map`, for tests and dry runs. Bytes are copied on the way
 * in and on the way out, so neither the writer nor a reader can change a stored blob by
 * mutating its array afterwards; that is what a real store guarantees too.
 */
export const makeMemoryBlobStore: Effect.Effect<BlobStore["Service"]> = Effect.sync(() => {
  const blobs = new Map<string, Uint8Array>()

  // Every operation below is synchronous once its key is checked, so a `put` can never be
  // seen half done and `putIfAbsent` needs no lock.
  return BlobStore.of({
    uri: "memory://",
    get: Effect.fn("MemoryBlobStore.get")(function*(key: string) {
      yield* checkBlobKey(key)
      const bytes = blobs.get(key)
      if (bytes === undefined) return yield* new BlobNotFoundError({ key })
      return new Uint8Array(bytes)
    }),
    put: Effect.fn("MemoryBlobStore.put")(function*(key: string, bytes: Uint8Array) {
      yield* checkBlobKey(key)
      blobs.set(key, new Uint8Array(bytes))
    }),
    putIfAbsent: Effect.fn("MemoryBlobStore.putIfAbsent")(function*(key: string, bytes: Uint8Array) {
      yield* checkBlobKey(key)
      if (blobs.has(key)) return false
      blobs.set(key, new Uint8Array(bytes))
      return true
    }),
    exists: Effect.fn("MemoryBlobStore.exists")(function*(key: string) {
      yield* checkBlobKey(key)
      return blobs.has(key)
    }),
    list: Effect.fn("MemoryBlobStore.list")(function*(prefix: string) {
      yield* checkBlobPrefix(prefix)
      return [...blobs.keys()].filter((key) => key.startsWith(prefix)).sort()
    }),
    delete: Effect.fn("MemoryBlobStore.delete")(function*(key: string) {
      yield* checkBlobKey(key)
      blobs.delete(key)
    })
  })
})

/** A layer with a fresh, empty in-memory {@link BlobStore}. */
export const memoryBlobStoreLayer: Layer.Layer<BlobStore> = Layer.effect(BlobStore, makeMemoryBlobStore)
