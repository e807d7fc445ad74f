import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import {
  zstdCompress,
  zstdDecompress,
  zstdDecompressBounded,
  ZstdDecompressError,
  zstdExpansionCap,
  type ZstdExpansionLimits
} from "../../src/protocol/zstd.js"

const failure = (run: () => unknown): ZstdDecompressError => {
  try {
    run()
  } catch (error) {
    assert.instanceOf(error, ZstdDecompressError)
    return error as ZstdDecompressError
  }
  return assert.fail("expected a ZstdDecompressError")
}

describe("zstd", () => {
  it("round-trips bytes, and starts with the zstd frame magic", () => {
    const bytes = new Uint8Array(100_000).map((_, index) => (index * 7919) % 251)
    const compressed = zstdCompress(bytes)
    assert.deepStrictEqual(Array.from(compressed.subarray(0, 4)), [0x28, 0xb5, 0x2f, 0xfd])
    assert.deepStrictEqual(zstdDecompress(compressed, bytes.length), bytes)
    assert.deepStrictEqual(zstdDecompress(zstdCompress(new Uint8Array(0)), 1), new Uint8Array(0))
  })

  it("refuses to expand past the size cap, so a small bomb cannot take the memory", () => {
    const bomb = zstdCompress(new Uint8Array(50_000_000))
    assert.isBelow(bomb.length, 10_000)
    const error = failure(() => zstdDecompress(bomb, 1_000_000))
    assert.isTrue(error.tooLarge)
    assert.strictEqual(error.message, "the zstd body expands past the 1000000-byte limit")
    assert.strictEqual((error.cause as { readonly code?: unknown }).code, "ERR_BUFFER_TOO_LARGE")
    // exactly at the cap is fine
    assert.strictEqual(zstdDecompress(zstdCompress(new Uint8Array(1000)), 1000).length, 1000)
    assert.isTrue(failure(() => zstdDecompress(zstdCompress(new Uint8Array(1001)), 1000)).tooLarge)
  })

  it("refuses bytes that are not zstd, or are cut short", () => {
    const garbage = failure(() => zstdDecompress(new Uint8Array([1, 2, 3, 4, 5]), 1000))
    assert.isFalse(garbage.tooLarge)
    assert.include(garbage.message, "the body is not valid zstd data")
    // zlib's own error stays the cause, and its message is the detail after the colon
    assert.instanceOf(garbage.cause, Error)
    assert.strictEqual(garbage.message, `the body is not valid zstd data: ${(garbage.cause as Error).message}`)
    const compressed = zstdCompress(new Uint8Array(5000).fill(9))
    assert.isFalse(failure(() => zstdDecompress(compressed.subarray(0, compressed.length - 3), 10_000)).tooLarge)
  })

  describe("zstdDecompressBounded", () => {
    // Caps under 1 MiB are decoded in place, larger ones streamed through the thread pool.
    const small = { maxBytes: 1_000_000, maxRatio: 10, ratioFloorBytes: 1000 }
    const large = { maxBytes: 64_000_000, maxRatio: 10, ratioFloorBytes: 2_000_000 }
    const refusal = (bytes: Uint8Array, limits: ZstdExpansionLimits) => Effect.flip(zstdDecompressBounded(bytes, limits))
    const ratioMessage = (cap: number, compressed: Uint8Array, floor: number) =>
      `the zstd body expands past ${cap} bytes, more than 10 times its ${compressed.length} compressed bytes ` +
      `(the limit is 10 times the compressed size, or ${floor} bytes if that is more)`
    // bytes that compress only about 2-fold: a ratio cap does not stop them
    const noisy = (length: number) => {
      let state = 2463534242
      return new Uint8Array(length).map(() => {
        // xorshift32: four random bits a byte
        state ^= state << 13
        state ^= state >>> 17
        state ^= state << 5
        return (state >>> 0) & 0x0f
      })
    }

    it("caps the expansion at a ratio of the compressed size, never under the floor nor over the size limit", () => {
      assert.strictEqual(zstdExpansionCap(50, small), 1000)
      assert.strictEqual(zstdExpansionCap(5000, small), 50_000)
      assert.strictEqual(zstdExpansionCap(500_000, small), 1_000_000)
    })

    it.effect("round-trips bytes, in place and streamed, empty ones too", () =>
      Effect.gen(function*() {
        for (const bytes of [noisy(100_000), noisy(5_000_000)]) {
          assert.deepStrictEqual(yield* zstdDecompressBounded(zstdCompress(bytes), large), bytes)
        }
        assert.deepStrictEqual(yield* zstdDecompressBounded(zstdCompress(new Uint8Array(0)), small), new Uint8Array(0))
      }))

    it.effect("refuses a bomb by its ratio, naming ratio and limit, and by the size limit", () =>
      Effect.gen(function*() {
        const bomb = zstdCompress(new Uint8Array(5_000_000))
        for (const limits of [small, large]) {
          const byRatio = yield* refusal(bomb, limits)
          assert.isTrue(byRatio.tooLarge)
          assert.strictEqual(byRatio.message, ratioMessage(zstdExpansionCap(bomb.length, limits), bomb, limits.ratioFloorBytes))
        }
        for (const maxBytes of [100_000, 3_000_000]) {
          const bySize = yield* refusal(bomb, { ...large, maxBytes, maxRatio: 1e9 })
          assert.isTrue(bySize.tooLarge)
          assert.strictEqual(bySize.message, `the zstd body expands past the ${maxBytes}-byte limit`)
        }
        // exactly at the cap is fine
        assert.strictEqual((yield* zstdDecompressBounded(zstdCompress(new Uint8Array(1000)), small)).length, 1000)
        assert.isTrue((yield* refusal(zstdCompress(new Uint8Array(1001)), small)).tooLarge)
        assert.strictEqual((yield* zstdDecompressBounded(zstdCompress(new Uint8Array(2_000_000)), large)).length, 2_000_000)
        assert.isTrue((yield* refusal(zstdCompress(new Uint8Array(2_000_001)), large)).tooLarge)
      }))

    it.effect("refuses bytes that are not zstd, or are cut short", () =>
      Effect.gen(function*() {
        const garbage = yield* refusal(new Uint8Array([1, 2, 3, 4, 5]), small)
        assert.isFalse(garbage.tooLarge)
        assert.strictEqual(garbage.message, `the body is not valid zstd data: ${(garbage.cause as Error).message}`)
        // cut short past the first MiB, where it is streamed
        for (const bytes of [noisy(5000), noisy(3_000_000)]) {
          const compressed = zstdCompress(bytes)
          const cut = yield* refusal(compressed.subarray(0, compressed.length - 3), large)
          assert.isFalse(cut.tooLarge)
          assert.match(cut.message, /^the body is not valid zstd data: /)
        }
      }))
  })
})
