import { createHash } from "node:crypto"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { Effect, Layer, Predicate } from "effect"
import { messageOf } from "../../ports/thrown-message.js"
import { BlobNotFoundError, BlobStore, BlobStoreError, UnsafeKeyError } from "../../ports/index.js"
import { replaceFile, syncDirectory, tempPrefix, writeTempFile } from "../fs/durable-files.js"
import { readFileHashed } from "../fs/read-file-hashed.js"
import { checkBlobKey, checkBlobPrefix } from "./blob-key.js"

// Errors that mean "no blob here": nothing at the path, a file where a directory was
// expected on the way, or a directory where the blob would be.
const missingCodes = new Set(["ENOENT", "ENOTDIR", "EISDIR"])

const errorCode = (error: unknown): unknown => Predicate.hasProperty(error, "code") ? error.code : undefined

const isMissing = (error: unknown): boolean => missingCodes.has(String(errorCode(error)))

/** Runs filesystem work and reports any failure as a {@link BlobStoreError} naming the key. */
const attempt = <A>(operation: string, key: string, run: () => Promise<A>): Effect.Effect<A, BlobStoreError> =>
  Effect.tryPromise({
    try: run,
    catch: (error) => new BlobStoreError({ operation, key, message: messageOf(error), cause: error })
  })

const isFile = async (file: string): Promise<boolean> => {
  try {
    return (await fs.stat(file)).isFile()
  } catch (error) {
    if (isMissing(error)) return false
    throw error
  }
}

/**
 * A {@link BlobStore} on the local filesystem, rooted at `rootDir` (created if missing).
 * Key `a/b/c` is the file `<rootDir>/a/b/c`. Writes go to a temp file in the target's
 * directory, are synced, and are then renamed (`put`) or hard-linked (`putIfAbsent`) into
 * place, so a reader sees the old blob or the whole new one. Unlike memory or S3, a disk
 * cannot hold both `a` and `a/b`; the second write fails with a {@link BlobStoreError}.
 * Directories emptied by `delete` are left in place: removing them would race with a
 * concurrent `put` into the same directory.
 */
export const makeFsBlobStore = Effect.fn("FsBlobStore.make")(function*(rootDir: string) {
  const root = path.resolve(rootDir)
  yield* attempt("open", "", () => fs.mkdir(root, { recursive: true }))

  const resolveKey = Effect.fnUntraced(function*(key: string) {
    yield* checkBlobKey(key)
    if (path.posix.basename(key).startsWith(tempPrefix)) {
      return yield* new UnsafeKeyError({ key, reason: `names starting with '${tempPrefix}' are reserved for temporary files` })
    }
    return path.join(root, ...key.split("/"))
  })

  /** Reads the blob at `key` with `read`; a missing file is a {@link BlobNotFoundError}. */
  const readBlob = <A>(operation: string, key: string, read: (file: string) => Promise<A>) =>
    Effect.gen(function*() {
      const file = yield* resolveKey(key)
      const found = yield* attempt(operation, key, async () => {
        try {
          return { value: await read(file) }
        } catch (error) {
          if (isMissing(error)) return undefined
          throw error
        }
      })
      if (found === undefined) return yield* new BlobNotFoundError({ key })
      return found.value
    })

  const get = Effect.fn("FsBlobStore.get")(function*(key: string) {
    return yield* readBlob("get", key, async (file) => {
      const buffer = await fs.readFile(file)
      // A plain Uint8Array view, so callers compare and copy it like any other store's bytes.
      return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
    })
  })

  const getHashed = Effect.fn("FsBlobStore.getHashed")(function*(key: string) {
    return yield* readBlob("get", key, readFileHashed)
  })

  const put = Effect.fn("FsBlobStore.put")(function*(key: string, bytes: Uint8Array) {
    const file = yield* resolveKey(key)
    yield* attempt("put", key, () => replaceFile(file, bytes))
  })

  const putHashed = Effect.fn("FsBlobStore.putHashed")(function*(key: string, pieces: ReadonlyArray<Uint8Array>) {
    const file = yield* resolveKey(key)
    const hash = createHash("sha256")
    yield* attempt("put", key, () => replaceFile(file, pieces, hash))
    return hash.digest("hex")
  })

  const putIfAbsent = Effect.fn("FsBlobStore.putIfAbsent")(function*(key: string, bytes: Uint8Array) {
    const file = yield* resolveKey(key)
    return yield* attempt("putIfAbsent", key, async () => {
      // A cheap early answer; the link below is what decides when writers race.
      if (await isFile(file)) return false
      const directory = path.dirname(file)
      const temp = await writeTempFile(directory, bytes)
      try {
        // link() fails if the target exists, and the target appears with all its bytes.
        await fs.link(temp, file)
      } catch (error) {
        if (errorCode(error) === "EEXIST" && await isFile(file)) return false
        throw error
      } finally {
        await fs.rm(temp, { force: true })
      }
      await syncDirectory(directory)
      return true
    })
  })

  const exists = Effect.fn("FsBlobStore.exists")(function*(key: string) {
    const file = yield* resolveKey(key)
    return yield* attempt("exists", key, () => isFile(file))
  })

  const list = Effect.fn("FsBlobStore.list")(function*(prefix: string) {
    yield* checkBlobPrefix(prefix)
    return yield* attempt("list", prefix, async () => {
      // Walk only the deepest directory the prefix names, not the whole store.
      const slash = prefix.lastIndexOf("/")
      const start = slash < 0 ? root : path.join(root, ...prefix.slice(0, slash).split("/"))
      let entries
      try {
        entries = await fs.readdir(start, { recursive: true, withFileTypes: true })
      } catch (error) {
        if (isMissing(error)) return []
        throw error
      }
      return entries
        .filter((entry) => entry.isFile() && !entry.name.startsWith(tempPrefix))
        .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)).split(path.sep).join("/"))
        .filter((key) => key.startsWith(prefix))
        .sort()
    })
  })

  const remove = Effect.fn("FsBlobStore.delete")(function*(key: string) {
    const file = yield* resolveKey(key)
    yield* attempt("delete", key, async () => {
      try {
        await fs.unlink(file)
      } catch (error) {
        // Deleting a blob that is not there is not an error: the caller's goal is met.
        if (isMissing(error)) return
        throw error
      }
      await syncDirectory(path.dirname(file))
    })
  })

  return BlobStore.of({ uri: pathToFileURL(root).href, get, getHashed, put, putHashed, putIfAbsent, exists, list, delete: remove })
})

/** A layer with a filesystem {@link BlobStore} rooted at `rootDir`; see {@link makeFsBlobStore}. */
export const fsBlobStoreLayer = (rootDir: string): Layer.Layer<BlobStore, BlobStoreError> =>
  Layer.effect(BlobStore, makeFsBlobStore(rootDir))
