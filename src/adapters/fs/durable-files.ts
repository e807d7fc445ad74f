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

/** `data` as the pieces it is written from, in order. */
const piecesOf = (data: FileData): ReadonlyArray<Uint8Array | string> =>
  typeof data === "string" || data instanceof Uint8Array ? [data] : data

const writeAll = async (handle: fs.FileHandle, data: FileData): Promise<void> => {
  if (typeof data === "string" || data instanceof Uint8Array) return handle.writeFile(data)
  // One gathering write from the pieces where they lie; libuv writes them all (in several
  // calls if it must), so a shorter answer is a failure of the disk.
  const expected = data.reduce((total, piece) => total + piece.byteLength, 0)
  const { bytesWritten } = await handle.writev(data)
  if (bytesWritten !== expected) throw new Error(`wrote ${bytesWritten} of ${expected} bytes`)
}

/**
 * Writes `data` to a fresh temp file in `directory` and syncs it; answers its path. With
 * `hash`, the bytes are hashed while the file is synced: the write only fills the page cache
 * and the sync waits on the disk, so the hash takes no time of its own.
 */
export const writeTempFile = async (directory: string, data: FileData, hash?: Hash): Promise<string> => {
  await ensureDirectory(directory)
  const temp = path.join(directory, tempPrefix + randomBytes(8).toString("hex"))
  const handle = await fs.open(temp, "wx")
  try {
    await writeAll(handle, data)
    const synced = handle.sync()
    if (hash !== undefined) for (const piece of piecesOf(data)) hash.update(piece)
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
