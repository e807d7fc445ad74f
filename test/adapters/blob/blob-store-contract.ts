import { assert, describe, it } from "@effect/vitest"
import { Effect, type Scope } from "effect"
import type { BlobStore } from "../../../src/ports/index.js"

const text = (value: string): Uint8Array => new TextEncoder().encode(value)

const decode = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)

// Deterministic pseudo-random bytes (a linear congruential generator), so a failure repeats.
const pseudoRandomBytes = (length: number, seed: number): Uint8Array => {
  const bytes = new Uint8Array(length)
  let state = seed >>> 0
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    bytes[i] = state >>> 24
  }
  return bytes
}

// Keys every store must refuse, with what is wrong with each.
const unsafeKeys: ReadonlyArray<readonly [string, string]> = [
  ["../x", "parent segment"],
  ["a/../b", "parent segment inside"],
  ["./a", "dot segment"],
  ["/abs", "absolute path"],
  ["\\abs", "backslash-absolute path"],
  ["C:/x", "drive letter"],
  ["a\\b", "backslash"],
  ["a//b", "empty segment"],
  ["a\u0000b", "NUL"],
  ["a\nb", "newline"],
  ["a\u007fb", "DEL"],
  ["", "empty key"],
  ["a/", "trailing slash"]
]

/**
 * Registers the tests every {@link BlobStore} must pass. `makeStore` builds a fresh, empty
 * store; it may hold resources in the test's scope (a temp directory, a server).
 */
export const blobStoreContract = (
  name: string,
  makeStore: Effect.Effect<BlobStore["Service"], unknown, Scope.Scope>
): void => {
  describe(`${name}: BlobStore contract`, () => {
    it.effect("round-trips a blob", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        yield* store.put("runs/a/weights.bin", text("hello"))
        const bytes = yield* store.get("runs/a/weights.bin")
        assert.instanceOf(bytes, Uint8Array)
        assert.strictEqual(decode(bytes), "hello")
      }))

    it.effect("stores an empty blob", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        yield* store.put("empty", new Uint8Array(0))
        assert.strictEqual((yield* store.get("empty")).length, 0)
        assert.isTrue(yield* store.exists("empty"))
      }))

    it.effect("put overwrites", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        yield* store.put("k", text("first"))
        yield* store.put("k", text("second, longer"))
        assert.strictEqual(decode(yield* store.get("k")), "second, longer")
        assert.deepStrictEqual(yield* store.list(""), ["k"])
      }))

    it.effect("putIfAbsent writes once and never overwrites", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        assert.isTrue(yield* store.putIfAbsent("manifest.json", text("one")))
        assert.isFalse(yield* store.putIfAbsent("manifest.json", text("two")))
        assert.strictEqual(decode(yield* store.get("manifest.json")), "one")
        yield* store.delete("manifest.json")
        assert.isTrue(yield* store.putIfAbsent("manifest.json", text("three")))
        assert.strictEqual(decode(yield* store.get("manifest.json")), "three")
      }))

    it.effect("putIfAbsent lets exactly one of many concurrent writers win", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        const writers = Array.from({ length: 8 }, (_, i) => i)
        const wrote = yield* Effect.forEach(
          writers,
          (i) => store.putIfAbsent("race/winner", text(`writer ${i}`)),
          { concurrency: "unbounded" }
        )
        const winners = writers.filter((i) => wrote[i])
        assert.strictEqual(winners.length, 1)
        assert.strictEqual(decode(yield* store.get("race/winner")), `writer ${winners[0]}`)
      }))

    it.effect("exists follows put and delete", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        assert.isFalse(yield* store.exists("a/b"))
        yield* store.put("a/b", text("x"))
        assert.isTrue(yield* store.exists("a/b"))
        // A prefix of a key is not a blob.
        assert.isFalse(yield* store.exists("a"))
        yield* store.delete("a/b")
        assert.isFalse(yield* store.exists("a/b"))
      }))

    it.effect("list returns the keys under a prefix, sorted", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        for (const key of ["runs/b/1", "runs/a/2", "other", "runs/ab", "runs/a/1", "runs/a/deep/x"]) {
          yield* store.put(key, text(key))
        }
        assert.deepStrictEqual(yield* store.list(""), ["other", "runs/a/1", "runs/a/2", "runs/a/deep/x", "runs/ab", "runs/b/1"])
        assert.deepStrictEqual(yield* store.list("runs/a/"), ["runs/a/1", "runs/a/2", "runs/a/deep/x"])
        assert.deepStrictEqual(yield* store.list("runs/a"), ["runs/a/1", "runs/a/2", "runs/a/deep/x", "runs/ab"])
        assert.deepStrictEqual(yield* store.list("runs/a/1"), ["runs/a/1"])
        assert.deepStrictEqual(yield* store.list("ot"), ["other"])
        assert.deepStrictEqual(yield* store.list("missing/"), [])
        assert.deepStrictEqual(yield* store.list("other/"), [])
      }))

    it.effect("delete removes a blob, and deleting a missing key succeeds", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        yield* store.put("a/1", text("1"))
        yield* store.put("a/2", text("2"))
        yield* store.delete("a/1")
        assert.deepStrictEqual(yield* store.list(""), ["a/2"])
        yield* store.delete("a/1")
        yield* store.delete("never/written")
        assert.deepStrictEqual(yield* store.list(""), ["a/2"])
      }))

    it.effect("get of a missing key fails with BlobNotFoundError", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        const missing = yield* Effect.flip(store.get("no/such/blob"))
        assert.strictEqual(missing._tag, "BlobNotFoundError")
        assert.strictEqual(missing.key, "no/such/blob")
        yield* store.put("a/b", text("x"))
        // Neither a key below a blob nor a "directory" of blobs is a blob.
        assert.strictEqual((yield* Effect.flip(store.get("a/b/c")))._tag, "BlobNotFoundError")
        assert.strictEqual((yield* Effect.flip(store.get("a")))._tag, "BlobNotFoundError")
      }))

    for (const [key, what] of unsafeKeys) {
      it.effect(`rejects an unsafe key (${what}) in every operation`, () =>
        Effect.gen(function*() {
          const store = yield* makeStore
          const failures = [
            yield* Effect.flip(store.get(key)),
            yield* Effect.flip(store.put(key, text("x"))),
            yield* Effect.flip(store.putIfAbsent(key, text("x"))),
            yield* Effect.flip(store.exists(key)),
            yield* Effect.flip(store.delete(key))
          ]
          for (const failure of failures) {
            assert.strictEqual(failure._tag, "UnsafeKeyError")
            if (failure._tag === "UnsafeKeyError") assert.strictEqual(failure.key, key)
          }
          assert.deepStrictEqual(yield* store.list(""), [])
        }))
    }

    it.effect("list rejects an unsafe prefix but accepts the empty one", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        for (const prefix of ["../", "/abs", "a//", "a/../"]) {
          assert.strictEqual((yield* Effect.flip(store.list(prefix)))._tag, "UnsafeKeyError")
        }
        assert.deepStrictEqual(yield* store.list(""), [])
      }))

    it.effect("keeps every byte value intact", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        const everyByte = Uint8Array.from({ length: 256 }, (_, i) => i)
        yield* store.put("bytes/all", everyByte)
        assert.deepStrictEqual(yield* store.get("bytes/all"), everyByte)
      }))

    it.effect("keeps a 5 MB blob intact", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        const large = pseudoRandomBytes(5 * 1024 * 1024 + 7, 42)
        yield* store.put("bytes/large", large)
        const back = yield* store.get("bytes/large")
        assert.strictEqual(back.length, large.length)
        assert.strictEqual(Buffer.compare(back, large), 0)
      }))

    it.effect("a caller mutating its arrays cannot change a stored blob", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        const written = Buffer.from("abc")
        yield* store.put("k", written)
        written[0] = 0x7a
        const read = yield* store.get("k")
        read[1] = 0x7a
        assert.strictEqual(decode(yield* store.get("k")), "abc")
      }))
  })
}
