import { createHash } from "node:crypto"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { fsBlobStoreLayer, makeFsBlobStore } from "../../../src/adapters/blob/fs-blob-store.js"
import { BlobStore } from "../../../src/ports/index.js"
import { blobStoreContract } from "./blob-store-contract.js"
import { tempDirectory } from "../../support/temp-directory.js"

const text = (value: string): Uint8Array => new TextEncoder().encode(value)

// Every file under `root`, as `/`-separated paths relative to it, temp files included.
const filesUnder = (root: string): Effect.Effect<ReadonlyArray<string>> =>
  Effect.promise(async () => {
    const entries = await fs.readdir(root, { recursive: true, withFileTypes: true })
    return entries
      .filter((entry) => entry.isFile())
      .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)).split(path.sep).join("/"))
      .sort()
  })

blobStoreContract("FsBlobStore", Effect.flatMap(tempDirectory("fs-blob"), makeFsBlobStore))

describe("FsBlobStore", () => {
  it.effect("lays blobs out as files under the root, creating the root", () =>
    Effect.gen(function*() {
      const root = path.join(yield* tempDirectory("fs-blob"), "store", "nested")
      const store = yield* makeFsBlobStore(root)
      assert.strictEqual(store.uri, pathToFileURL(root).href)
      assert.isTrue(store.uri.startsWith("file:///"))
      yield* store.put("runs/a/weights.bin", text("w"))
      const onDisk = yield* Effect.promise(() => fs.readFile(path.join(root, "runs", "a", "weights.bin"), "utf8"))
      assert.strictEqual(onDisk, "w")
    }))

  it.effect("leaves no temp files behind after puts", () =>
    Effect.gen(function*() {
      const root = yield* tempDirectory("fs-blob")
      const store = yield* makeFsBlobStore(root)
      yield* store.put("a/1", text("one"))
      yield* store.put("a/1", text("one again"))
      yield* store.putIfAbsent("a/2", text("two"))
      yield* store.putIfAbsent("a/2", text("not written"))
      yield* Effect.forEach(["b/1", "b/2", "b/3"], (key) => store.put(key, text(key)), { concurrency: "unbounded" })
      assert.deepStrictEqual(yield* filesUnder(root), ["a/1", "a/2", "b/1", "b/2", "b/3"])
    }))

  it.effect("a temp file left by a crash is never listed, and its name cannot be a key", () =>
    Effect.gen(function*() {
      const root = yield* tempDirectory("fs-blob")
      const store = yield* makeFsBlobStore(root)
      yield* store.put("runs/a/manifest.json", text("{}"))
      // What a process killed between writing and renaming leaves: a partial temp file.
      const leftover = ".sous-tmp-0123456789abcdef"
      yield* Effect.promise(() => fs.writeFile(path.join(root, "runs", "a", leftover), "{\"partial"))
      assert.deepStrictEqual(yield* store.list(""), ["runs/a/manifest.json"])
      assert.deepStrictEqual(yield* store.list("runs/a/"), ["runs/a/manifest.json"])
      const refused = yield* Effect.flip(store.get(`runs/a/${leftover}`))
      assert.strictEqual(refused._tag, "UnsafeKeyError")
      // The next put in that directory still works and is read back whole.
      yield* store.put("runs/a/manifest.json", text("{\"step\":2}"))
      assert.strictEqual(new TextDecoder().decode(yield* store.get("runs/a/manifest.json")), "{\"step\":2}")
    }))

  it.effect("reports filesystem failures as BlobStoreError with the operation and key", () =>
    Effect.gen(function*() {
      const root = yield* tempDirectory("fs-blob")
      const store = yield* makeFsBlobStore(root)
      yield* store.put("a", text("a file"))
      // A disk cannot hold a blob at `a` and another below it.
      const failure = yield* Effect.flip(store.put("a/b", text("x")))
      assert.strictEqual(failure._tag, "BlobStoreError")
      if (failure._tag === "BlobStoreError") {
        assert.strictEqual(failure.operation, "put")
        assert.strictEqual(failure.key, "a/b")
        assert.include(failure.message, path.join(root, "a"))
      }
      assert.deepStrictEqual(yield* filesUnder(root), ["a"])
    }))

  it.effect("fsBlobStoreLayer provides the store and sees earlier blobs on disk", () =>
    Effect.gen(function*() {
      const root = yield* tempDirectory("fs-blob")
      yield* Effect.promise(() => fs.mkdir(path.join(root, "ckpt")))
      yield* Effect.promise(() => fs.writeFile(path.join(root, "ckpt", "state.bin"), Buffer.from([9, 8, 7])))
      const bytes = yield* BlobStore.use((store) => store.get("ckpt/state.bin")).pipe(Effect.provide(fsBlobStoreLayer(root)))
      assert.deepStrictEqual(bytes, new Uint8Array([9, 8, 7]))
    }))
  it.effect("putHashed writes the concatenation of its pieces; it and getHashed answer the SHA-256 of what they write and read", () =>
    Effect.gen(function*() {
      const store = yield* makeFsBlobStore(yield* tempDirectory("fs-blob"))
      const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")
      // Empty, one piece, several pieces with a partial last one (reads go 512 KiB at a time),
      // and pieces across several of the 1 MiB groups that writes go in, two at once.
      for (const size of [0, 100, 3 * 512 * 1024 + 17, 5 * 1024 * 1024 + 3]) {
        const bytes = Uint8Array.from({ length: size }, (_, i) => (i * 31) % 251)
        const key = `hashed/${size}.bin`
        // Written as pieces of uneven sizes, views into one buffer and an empty one among them.
        const cuts = [0, Math.floor(size / 3), Math.floor(size / 3), Math.floor(size / 2), size]
        const pieces = cuts.slice(1).map((end, i) => bytes.subarray(cuts[i]!, end))
        assert.strictEqual(yield* store.putHashed!(key, pieces), sha256(bytes))
        const read = yield* store.getHashed!(key)
        assert.deepStrictEqual(read.bytes, bytes)
        assert.strictEqual(read.sha256, sha256(bytes))
      }
      const missing = yield* Effect.flip(store.getHashed!("hashed/none.bin"))
      assert.strictEqual(missing._tag, "BlobNotFoundError")
    }))
})
