import { type Hash, randomBytes } from "node:crypto"
import * as fs from "node:fs/promises"
import * as path from "node:path"

/**
 * Temp files are written under this prefix and renamed into place; the fs blob store lists
 * and accepts no key with it, so a temp file left by a crash never passes for a blob.
 */
export const tempPrefix = ".sous-tmp-"

/** Syncs a directory: a rename or link is durable only once its directory entry is. */
export const syncDirectory = async (directory: string): Promise<void> => {
  const handle = await fs.open(directory, "r")
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/**
 * Creates `directory` and its missing parents, syncing the parent of each new directory so
 * that the path to a file survives a crash as well as the file itself.
 */
export const ensureDirectory = async (directory: string): Promise<void> => {
  const firstCreated = await fs.mkdir(directory, { recursive: true })
  if (firstCreated === undefined) return
  for (let created = directory; ; created = path.dirname(created)) {
    await syncDirectory(path.dirname(created))
    if (created === firstCreated) return
  }
}

/** What a file is written from: bytes, text, or byte pieces written one after another. */
export type FileData = Uint8Array | string | ReadonlyArray<Uint8Array>

/**
 * `pieces` cut into consecutive groups of `size` bytes (the last one shorter), each a list of
 * views of the pieces it spans: nothing is copied.
 */
const byteGroups = (pieces: ReadonlyArray<Uint8Array>, size: number): Array<Array<Uint8Array>> => {
  const groups: Array<Array<Uint8Array>> = [[]]
  let room = size
  for (const piece of pieces) {
    for (let start = 0; start < piece.byteLength;) {
      if (room === 0) {
        groups.push([])
        room = size
      }
      const end = Math.min(piece.byteLength, start + room)
      groups.at(-1)!.push(piece.subarray(start, end))
      room -= end - start
      start = end
    }
  }
  return groups
}

// Pieces are written in gathering writes of this many bytes, as `writeFile` writes a buffer
// in slices: one write of a 53 MB state stalled for 80-200 ms in about one try of ten on these
// machines (the kernel taking its pages at once), writes of 1 MiB in none of twenty.
const writeGroupBytes = 1024 * 1024

// Writes in flight at once: the thread pool starts the next group as soon as one ends, without
// waiting for this thread (busy hashing) to hand it over.
const writeLanes = 2

const writeAll = async (handle: fs.FileHandle, data: FileData): Promise<void> => {
  if (typeof data === "string" || data instanceof Uint8Array) return handle.writeFile(data)
  let position = 0
  const writes = byteGroups(data, writeGroupBytes).map((group) => {
    const bytes = group.reduce((total, piece) => total + piece.byteLength, 0)
    position += bytes
    return { group, bytes, at: position - bytes }
  })
  let next = 0
  let failed = false
  const lane = async () => {
    while (!failed && next < writes.length) {
      const { group, bytes, at } = writes[next++]!
      // libuv writes the whole group (in several calls if it must), so a shorter answer is a
      // failure of the disk.
      const { bytesWritten } = await handle.writev(group, at)
      if (bytesWritten !== bytes) throw new Error(`wrote ${bytesWritten} of ${bytes} bytes at ${at}`)
    }
  }
  // Every lane ends before this does, so no write is left running when the caller closes the file.
  const outcomes = await Promise.allSettled(Array.from({ length: writeLanes }, () => lane().catch((error) => {
    failed = true
    throw error
  })))
  const failure = outcomes.find((outcome) => outcome.status === "rejected")
  if (failure !== undefined) throw failure.reason
}

// The hash takes this many bytes at a time (about 0.15 ms), then gives the event loop a turn:
// the next write group, and the sync after the last, start with little delay.
const hashSliceBytes = 256 * 1024

/** Hashes `data` in order, a slice at a time, yielding to the event loop after each slice. */
const hashInSlices = async (hash: Hash, data: FileData): Promise<void> => {
  if (typeof data === "string") return void hash.update(data)
  for (const group of byteGroups(data instanceof Uint8Array ? [data] : data, hashSliceBytes)) {
    for (const piece of group) hash.update(piece)
    await new Promise((resolve) => setImmediate(resolve))
  }
}

/**
 * Writes `data` to a fresh temp file in `directory` and syncs it; answers its path. With
 * `hash`, the bytes are hashed here while libuv's threads write and sync them (both only read
 * the bytes), so the hash takes little time of its own: the write fills the page cache, the
 * sync waits on the disk.
 */
export const writeTempFile = async (directory: string, data: FileData, hash?: Hash): Promise<string> => {
  await ensureDirectory(directory)
  const temp = path.join(directory, tempPrefix + randomBytes(8).toString("hex"))
  const handle = await fs.open(temp, "wx")
  try {
    const synced = writeAll(handle, data).then(() => handle.sync())
    if (hash !== undefined) {
      // Awaited below; until then a failed write must not count as an unhandled rejection.
      synced.catch(() => undefined)
      await hashInSlices(hash, data)
    }
    await synced
  } catch (error) {
    await handle.close()
    await fs.rm(temp, { force: true })
    throw error
  }
  await handle.close()
  return temp
}

/**
 * Replaces `file` with `data` atomically and durably (temp file, fsync, rename, directory
 * fsync): a reader finds the old content or the new, never a torn file. `hash`, if given,
 * digests the bytes while they are synced (see {@link writeTempFile}).
 */
export const replaceFile = async (file: string, data: FileData, hash?: Hash): Promise<void> => {
  const directory = path.dirname(file)
  const temp = await writeTempFile(directory, data, hash)
  try {
    await fs.rename(temp, file)
  } catch (error) {
    await fs.rm(temp, { force: true })
    throw error
  }
  await syncDirectory(directory)
}
