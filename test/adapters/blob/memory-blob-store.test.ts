import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeMemoryBlobStore, memoryBlobStoreLayer } from "../../../src/adapters/blob/memory-blob-store.js"
import { BlobStore } from "../../../src/ports/index.js"
import { blobStoreContract } from "./blob-store-contract.js"

blobStoreContract("MemoryBlobStore", makeMemoryBlobStore)

describe("MemoryBlobStore", () => {
  it.effect("the layer provides a store named memory://", () =>
    Effect.gen(function*() {
      const store = yield* BlobStore
      assert.strictEqual(store.uri, "memory://")
      yield* store.put("k", new Uint8Array([1, 2, 3]))
      assert.deepStrictEqual(yield* store.get("k"), new Uint8Array([1, 2, 3]))
    }).pipe(Effect.provide(memoryBlobStoreLayer)))

  it.effect("each store is independent", () =>
    Effect.gen(function*() {
      const first = yield* makeMemoryBlobStore
      const second = yield* makeMemoryBlobStore
      yield* first.put("k", new Uint8Array([1]))
      assert.isFalse(yield* second.exists("k"))
    }))
})
