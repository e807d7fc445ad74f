import { createHash } from "node:crypto"
import { createReadStream } from "node:fs"
import { open, rename, rm, stat } from "node:fs/promises"
import { join } from "node:path"
import { pipeline } from "node:stream/promises"
import { HubApiError, type ListFileEntry } from "@huggingface/hub"
import { Effect } from "effect"
import { messageOf } from "../../ports/thrown-message.js"
import type { HubClient, HubTarget } from "./hub-client.js"
import { urlPath } from "./hub-repo.js"
import { HubRequestError } from "./hub-request-error.js"

// One file of a model repo, fetched into the cache so that an interrupted download goes on
// where it stopped: the bytes go to a partial file whose name holds the hash the Hub lists
// (so a later run finds it, and never continues another version of the file), a retry asks
// for the rest with `Range: bytes=<have>-`, and the whole file is checked against that
// hash before it takes its real name.

// Cuts in a row that bring no new byte before a download is given up (the partial stays).
const maxIdleCuts = 3

// Files at least this large get a line in the log when their download starts.
const announcedBytes = 10 * 1024 * 1024

const digest = (algorithm: "sha1" | "sha256", path: string, prefix?: string): Promise<string> => {
  const hash = createHash(algorithm)
  if (prefix !== undefined) hash.update(prefix)
  return pipeline(createReadStream(path), async (chunks: AsyncIterable<Buffer>) => {
    for await (const chunk of chunks) hash.update(chunk)
  }).then(() => hash.digest("hex"))
}

const sizeOf = (path: string): Promise<number | undefined> => stat(path).then((info) => info.size, () => undefined)

/**
 * Whether `path` holds the file the listing describes: its size, and its SHA-256 (LFS files)
 * or git blob id (other files). A file the Hub gives no hash for is judged by its size. One
 * that cannot be read counts as absent: fetching it again says what is wrong with the path.
 */
const isComplete = async (path: string, entry: ListFileEntry): Promise<boolean> => {
  const size = await sizeOf(path)
  if (size !== entry.size) return false
  const matches = (algorithm: "sha1" | "sha256", expected: string, prefix?: string) =>
    digest(algorithm, path, prefix).then((actual) => actual === expected, () => false)
  if (entry.lfs !== undefined) return matches("sha256", entry.lfs.oid)
  if (entry.oid !== undefined) return matches("sha1", entry.oid, `blob ${size}\0`)
  return true
}

/** Where the partial download of `entry` is kept in `dir`: `<name>.<hash the Hub lists>.partial`. */
export const partialPath = (dir: string, entry: ListFileEntry): string =>
  join(dir, `${entry.path}.${entry.lfs?.oid ?? entry.oid ?? `size-${entry.size}`}.partial`)

/** How one request for the file's bytes ended. */
interface Fetched {
  /** The server answered the whole file to a request for its end: the partial was started over. */
  readonly ignoredRange: boolean
  /** Why the body stopped before its end (the connection dropped); what arrived is kept. */
  readonly cut?: unknown
}

/** The Hub's error for a failed response, as @huggingface/hub would raise it (`client.call` words it). */
const responseError = async (url: string, response: Response): Promise<HubApiError> => {
  const text = await response.text().catch(() => "")
  const json = ((): unknown => {
    try {
      return JSON.parse(text)
    } catch {
      return undefined
    }
  })()
  const said = typeof json === "object" && json !== null && "error" in json && typeof json.error === "string" ? json.error : text.slice(0, 200)
  return new HubApiError(url, response.status, response.headers.get("X-Request-Id") ?? undefined, said === "" ? `HTTP ${response.status}` : said)
}

/**
 * Requests `path` at `commit` from byte `offset` on and writes what comes into `partial`:
 * appended when the server answers the range (206), from the start when it sends the whole
 * file (200). Each chunk is written before the next is read, so when the connection drops
 * the partial holds every byte fetch handed on (it drops those it still held). HTTP errors
 * throw; a body cut short does not.
 */
const fetchInto = async (target: HubTarget, commit: string, path: string, partial: string, offset: number): Promise<Fetched> => {
  const url = `${target.hubUrl}/${target.repo.name}/resolve/${commit}/${urlPath(path)}`
  const response = await fetch(url, {
    headers: {
      ...(target.accessToken === undefined ? {} : { Authorization: `Bearer ${target.accessToken}` }),
      ...(offset > 0 ? { Range: `bytes=${offset}-` } : {})
    }
  })
  if (!response.ok) throw await responseError(url, response)
  const resumed = offset > 0 && response.status === 206
  if (resumed) {
    const start = /^bytes (\d+)-/.exec(response.headers.get("Content-Range") ?? "")?.[1]
    if (start === undefined || Number(start) !== offset) {
      await response.body?.cancel()
      throw new Error(`asked for the bytes from ${offset} on, the Hub answered the range ${response.headers.get("Content-Range")}`)
    }
  }
  const file = await open(partial, resumed ? "a" : "w")
  try {
    if (response.body !== null) for await (const chunk of response.body) await file.write(chunk)
    return { ignoredRange: offset > 0 && !resumed }
  } catch (cut) {
    return { ignoredRange: offset > 0 && !resumed, cut }
  } finally {
    await file.close()
  }
}

// fetch says "terminated" and gives the socket's reason ("other side closed") as the cause.
const cutReason = (cut: unknown): string =>
  cut instanceof Error && cut.cause instanceof Error ? `${cut.message}: ${cut.cause.message}` : messageOf(cut)

/** A failure of `operation` on the client's repo, worded as the client words the Hub's. */
export const hubFailure = (client: HubClient, operation: string, message: string): HubRequestError =>
  new HubRequestError({ operation, uri: client.uri, message: `${operation} on ${client.uri} failed: ${message}` })

const megabytes = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`

/**
 * Fetches `entry` of the repo at `commit` into `dir`, unless a complete copy is there;
 * answers whether it fetched. A partial download left by an earlier try is continued from
 * its last byte (`Range`), also when the connection drops during this one (up to
 * {@link maxIdleCuts} drops in a row that bring nothing new). A server that ignores the range
 * sends the file whole, which then replaces the partial. The file takes its name only once
 * its size and hash are the Hub's; a resumed file that fails that check is discarded and
 * fetched whole, once. Failures name the file, the commit and the repo.
 */
export const downloadRepoFile = (client: HubClient, commit: string, dir: string, entry: ListFileEntry) =>
  Effect.gen(function*() {
    const path = join(dir, entry.path)
    if (yield* Effect.promise(() => isComplete(path, entry))) return false
    const partial = partialPath(dir, entry)
    const operation = `download ${entry.path}@${commit}`
    const fail = (message: string) => hubFailure(client, operation, message)
    const io = <A>(doing: string, run: () => Promise<A>) => Effect.tryPromise({ try: run, catch: (error) => client.toError(`${doing} ${partial}`, error) })
    if (entry.size >= announcedBytes) yield* Effect.logInfo(`downloading ${entry.path} (${megabytes(entry.size)}) of ${client.uri}@${commit}`)
    // Whether the partial holds bytes from before the last request from byte 0: only then can
    // a finished file that fails its hash be blamed on a damaged earlier try and fetched again.
    let resumed = false
    // Whether a damaged partial was discarded already: it is, once.
    let discarded = false
    // Drops in a row that brought no new byte.
    let idleCuts = 0
    for (;;) {
      let have = (yield* Effect.promise(() => sizeOf(partial))) ?? 0
      if (have > entry.size) {
        yield* Effect.logWarning(`${partial} holds ${have} bytes, more than the ${entry.size} of ${entry.path}: discarded`)
        yield* io("remove", () => rm(partial, { force: true }))
        have = 0
      }
      if (have > 0) resumed = true
      if (have < entry.size || entry.size === 0) {
        if (have > 0) yield* Effect.logInfo(`resuming ${entry.path} of ${client.uri}@${commit} at byte ${have} of ${entry.size}`)
        const fetched = yield* client.call(operation, (target) => fetchInto(target, commit, entry.path, partial, have))
        if (fetched.ignoredRange) {
          resumed = false
          yield* Effect.logWarning(`${client.uri} answered the whole of ${entry.path} to a request for its bytes from ${have} on: the download started over`)
        }
        if (fetched.cut !== undefined) {
          const now = (yield* Effect.promise(() => sizeOf(partial))) ?? 0
          idleCuts = now > have ? 0 : idleCuts + 1
          if (idleCuts >= maxIdleCuts) {
            return yield* fail(`the connection dropped ${idleCuts} times in a row with nothing new, at byte ${now} of ${entry.size} (${cutReason(fetched.cut)}); ${partial} keeps those bytes and the next run resumes from there`)
          }
          yield* Effect.logWarning(`the download of ${entry.path} from ${client.uri} stopped at byte ${now} of ${entry.size}: resuming`)
          continue
        }
      }
      if (yield* Effect.promise(() => isComplete(partial, entry))) {
        yield* io("rename", () => rename(partial, path))
        return true
      }
      yield* io("remove", () => rm(partial, { force: true }))
      const mismatch = `the downloaded file does not match the size or hash the Hub lists (${entry.size} bytes${entry.lfs === undefined ? "" : `, SHA-256 ${entry.lfs.oid}`})`
      if (!resumed || discarded) return yield* fail(mismatch)
      yield* Effect.logWarning(`${operation} on ${client.uri}: ${mismatch}; the bytes kept from an earlier try must be damaged, so they were discarded and the file is fetched whole`)
      discarded = true
      resumed = false
    }
  })
