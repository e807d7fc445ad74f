import { assert, describe, it } from "@effect/vitest"
import { zstdCompress, zstdDecompress, ZstdDecompressError } from "../../src/protocol/zstd.js"

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
})
