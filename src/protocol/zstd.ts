import { createZstdDecompress, zstdCompressSync, zstdDecompressSync } from "node:zlib"
import { Effect } from "effect"
import { messageOf } from "../ports/thrown-message.js"

/**
 * zstd compression of forward/backward request bodies (`Content-Encoding: zstd`), over
 * Node's built-in zstd (Node ≥ 22.15).
 */

/** Why a zstd body could not be decompressed: too large once expanded, or not zstd at all. */
export class ZstdDecompressError extends Error {
  override readonly name = "ZstdDecompressError"
  /** True when the expanded bytes would pass a size or ratio limit (answer 413, not 400). */
  readonly tooLarge: boolean

  constructor(message: string, options: { readonly tooLarge: boolean; readonly cause?: unknown }) {
    // The zlib error stays the cause, so a verbose report can show it whole.
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.tooLarge = options.tooLarge
  }
}

/** Compresses bytes with zstd at its default level. */
export const zstdCompress = (bytes: Uint8Array): Uint8Array => new Uint8Array(zstdCompressSync(bytes))

const sizeLimitError = (maxBytes: number, cause?: unknown) =>
  new ZstdDecompressError(`the zstd body expands past the ${maxBytes}-byte limit`, { tooLarge: true, cause })

const invalidError = (cause: unknown) =>
  new ZstdDecompressError(`the body is not valid zstd data: ${messageOf(cause)}`, { tooLarge: false, cause })

/**
 * Decompresses zstd bytes, refusing to produce more than `maxBytes` bytes: zlib stops as soon
 * as the output passes the limit, so a small "zip bomb" cannot exhaust memory. It blocks the
 * thread while it works; a server uses {@link zstdDecompressBounded}.
 * Throws {@link ZstdDecompressError}.
 */
export const zstdDecompress = (bytes: Uint8Array, maxBytes: number): Uint8Array => {
  try {
    return new Uint8Array(zstdDecompressSync(bytes, { maxOutputLength: Math.max(1, maxBytes) }))
  } catch (cause) {
    const code = (cause as { readonly code?: unknown }).code
    if (code === "ERR_BUFFER_TOO_LARGE") throw sizeLimitError(maxBytes, cause)
    throw invalidError(cause)
  }
}

/** How far a zstd body may expand. */
export interface ZstdExpansionLimits {
  /** The most bytes any body may expand to. */
  readonly maxBytes: number
  /** The most a body may expand relative to its compressed size... */
  readonly maxRatio: number
  /** ...unless it expands to at most this many bytes, which any body may. */
  readonly ratioFloorBytes: number
}

/** The most bytes `compressedBytes` may expand to under `limits`. */
export const zstdExpansionCap = (compressedBytes: number, limits: ZstdExpansionLimits): number =>
  Math.min(limits.maxBytes, Math.max(limits.ratioFloorBytes, limits.maxRatio * compressedBytes))

// Why a body that passed `cap` was refused: the size limit, or its ratio.
const expansionError = (cap: number, compressedBytes: number, limits: ZstdExpansionLimits, cause?: unknown) =>
  cap === limits.maxBytes
    ? sizeLimitError(limits.maxBytes, cause)
    : new ZstdDecompressError(
      `the zstd body expands past ${cap} bytes, more than ${limits.maxRatio} times its ${compressedBytes} compressed bytes ` +
        `(the limit is ${limits.maxRatio} times the compressed size, or ${limits.ratioFloorBytes} bytes if that is more)`,
      { tooLarge: true, cause }
    )

// A body expanding to at most this is decoded in place: under a millisecond of work, which
// costs less than a trip to the thread pool.
const inPlaceBytes = 1024 * 1024

// zstd's own output block size: fewer, fuller chunks than zlib's 16 KiB default.
const outputChunkBytes = 128 * 1024

/** Streams `bytes` through zlib's thread pool, failing once the output passes `cap`. */
const decompressStreamed = (
  bytes: Uint8Array,
  cap: number,
  limits: ZstdExpansionLimits
): Effect.Effect<Uint8Array, ZstdDecompressError> =>
  Effect.callback<Uint8Array, ZstdDecompressError>((resume) => {
    const stream = createZstdDecompress({ chunkSize: outputChunkBytes })
    const chunks: Array<Buffer> = []
    let size = 0
    let settled = false
    // Stops zlib and drops what it made; the effect is answered at most once.
    const stop = () => {
      settled = true
      chunks.length = 0
      stream.destroy()
    }
    const settle = (result: Effect.Effect<Uint8Array, ZstdDecompressError>) => {
      if (settled) return
      stop()
      resume(result)
    }
    stream.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size <= cap) chunks.push(chunk)
      else settle(Effect.fail(expansionError(cap, bytes.length, limits)))
    })
    stream.on("end", () => {
      const whole = Buffer.concat(chunks, size)
      settle(Effect.succeed(new Uint8Array(whole.buffer, whole.byteOffset, whole.byteLength)))
    })
    // Stays attached after settling: an error emitted then must not go unhandled.
    stream.on("error", (cause) => settle(Effect.fail(invalidError(cause))))
    stream.end(bytes)
    return Effect.sync(stop)
  })

/**
 * Decompresses zstd bytes without holding the event loop: a body expanding to at most 1 MiB
 * in place, a larger one in zlib's thread pool, one output chunk at a time. The output is
 * counted as it comes: past {@link zstdExpansionCap} it stops and fails, so a bomb costs at
 * most the cap in memory and never blocks the thread. Interrupting it stops zlib.
 */
export const zstdDecompressBounded = (
  bytes: Uint8Array,
  limits: ZstdExpansionLimits
): Effect.Effect<Uint8Array, ZstdDecompressError> =>
  Effect.suspend(() => {
    const cap = zstdExpansionCap(bytes.length, limits)
    try {
      return Effect.succeed(zstdDecompress(bytes, Math.min(cap, inPlaceBytes)))
    } catch (error) {
      if (!(error instanceof ZstdDecompressError && error.tooLarge)) return Effect.fail(error as ZstdDecompressError)
      return cap <= inPlaceBytes ? Effect.fail(expansionError(cap, bytes.length, limits, error.cause)) : decompressStreamed(bytes, cap, limits)
    }
  })
