import { zstdCompressSync, zstdDecompressSync } from "node:zlib"
import { messageOf } from "../ports/thrown-message.js"

/**
 * zstd compression of forward/backward request bodies (`Content-Encoding: zstd`), over
 * Node's built-in zstd (Node ≥ 22.15).
 */

/** Why a zstd body could not be decompressed: too large once expanded, or not zstd at all. */
export class ZstdDecompressError extends Error {
  override readonly name = "ZstdDecompressError"
  /** True when the expanded bytes would pass the size limit (answer 413, not 400). */
  readonly tooLarge: boolean

  constructor(message: string, options: { readonly tooLarge: boolean; readonly cause?: unknown }) {
    // The zlib error stays the cause, so a verbose report can show it whole.
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.tooLarge = options.tooLarge
  }
}

/** Compresses bytes with zstd at its default level. */
export const zstdCompress = (bytes: Uint8Array): Uint8Array => new Uint8Array(zstdCompressSync(bytes))

/**
 * Decompresses zstd bytes, refusing to produce more than `maxBytes` bytes: zlib stops as soon
 * as the output passes the limit, so a small "zip bomb" cannot exhaust memory.
 * Throws {@link ZstdDecompressError}.
 */
export const zstdDecompress = (bytes: Uint8Array, maxBytes: number): Uint8Array => {
  try {
    return new Uint8Array(zstdDecompressSync(bytes, { maxOutputLength: Math.max(1, maxBytes) }))
  } catch (cause) {
    const code = (cause as { readonly code?: unknown }).code
    if (code === "ERR_BUFFER_TOO_LARGE") {
      throw new ZstdDecompressError(`the zstd body expands past the ${maxBytes}-byte limit`, { tooLarge: true, cause })
    }
    throw new ZstdDecompressError(`the body is not valid zstd data: ${messageOf(cause)}`, { tooLarge: false, cause })
  }
}
