import { createHash } from "node:crypto"
import * as fs from "node:fs/promises"

// Read in pieces this large (as `readFile` does; larger ones measured slower here): the hash
// digests one piece while the thread pool reads the next.
const pieceBytes = 512 * 1024

/** Reads into `piece` from `position` until it is full; answers how many bytes came (fewer at the end of the file). */
const readFully = async (handle: fs.FileHandle, piece: Uint8Array, position: number): Promise<number> => {
  let done = 0
  while (done < piece.byteLength) {
    const { bytesRead } = await handle.read(piece, done, piece.byteLength - done, position + done)
    if (bytesRead === 0) break
    done += bytesRead
  }
  return done
}

/**
 * Reads a whole file and its hex SHA-256, hashing each piece while the next is read, so the
 * digest costs almost no time beyond the read. The file must not change while it is read
 * (files replaced by rename, as blobs are, never do): one that shrinks or grows meanwhile
 * is an error.
 */
export const readFileHashed = async (file: string): Promise<{ readonly bytes: Uint8Array; readonly sha256: string }> => {
  const handle = await fs.open(file, "r")
  try {
    const { size } = await handle.stat()
    // Not zero-filled: every byte is read over, or the read fails. A plain Uint8Array view, so
    // callers compare and copy it like any other store's bytes.
    const buffer = Buffer.allocUnsafeSlow(size)
    const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, size)
    const hash = createHash("sha256")
    let hashed = 0
    for (let start = 0; start < size; start += pieceBytes) {
      const reading = readFully(handle, bytes.subarray(start, start + pieceBytes), start)
      hash.update(bytes.subarray(hashed, start))
      hashed = start
      if (await reading < Math.min(pieceBytes, size - start)) throw new Error(`${file} shrank while it was read`)
    }
    hash.update(bytes.subarray(hashed))
    if (await readFully(handle, new Uint8Array(1), size) !== 0) throw new Error(`${file} grew while it was read`)
    return { bytes, sha256: hash.digest("hex") }
  } finally {
    await handle.close()
  }
}
