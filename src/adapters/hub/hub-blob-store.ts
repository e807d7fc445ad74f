import { fileExists, HubApiError, listFiles } from "@huggingface/hub"
import { Effect, Layer } from "effect"
import { BlobNotFoundError, BlobStore, BlobStoreError, UnsafeKeyError, validateKey } from "../../ports/index.js"
import { checkBlobKey, checkBlobPrefix } from "../blob/blob-key.js"
import { type HubAccessOptions, makeHubClient } from "./hub-client.js"
import type { HubRequestError } from "./hub-request-error.js"
import { addOperations, commitToHub, downloadBlob, ensureRepo, headCommit, urlPath } from "./hub-repo.js"
import { formatHubUri, type HubRepoType, repoNameProblem } from "./hub-uri.js"

/** Which repo, and which folder of it, a Hub blob store uses. */
export interface HubBlobStoreOptions extends HubAccessOptions {
  /** `namespace/name`; created (private) when the store opens, if it is missing and a token is set. */
  readonly repo: string
  /** Default `model`. */
  readonly repoType?: HubRepoType
  /** A folder of the repo that holds the blobs; default the repo root. */
  readonly prefix?: string
}

type BlobStoreService = BlobStore["Service"]

/** A {@link BlobStore} on a Hub repo; its `commitIfAbsent` is always there. */
export interface HubBlobStore extends BlobStoreService {
  readonly commitIfAbsent: NonNullable<BlobStoreService["commitIfAbsent"]>
}

// Git reads `.gitattributes` files at any depth (they decide what goes through LFS), and the
// Hub creates one at the root of every repo: it is the repo's file, not a blob.
const reservedName = ".gitattributes"

const isReserved = (path: string): boolean => path === reservedName || path.endsWith(`/${reservedName}`)

// Another writer committed between our read of the head and our commit: read again. No
// pause between tries: each is three round trips, and a writer that lost to a write of the
// same key stops at the next check.
const conflictRetry = { while: (error: HubRequestError) => error.status === 412, times: 8 }

const storeError = (operation: string, key: string) =>
  Effect.mapError((error: HubRequestError) => new BlobStoreError({ operation, key, message: error.message, cause: error }))

/**
 * A {@link BlobStore} on a Hugging Face Hub repo (`hf://user/repo[/prefix]`, or
 * `hf://datasets/…` with `repoType: "dataset"`). Key `a/b` is the file `<prefix>/a/b` of the
 * main branch. Every write is one commit, and a Hub commit is atomic, so `put` and
 * `commitIfAbsent` are all-or-nothing: a checkpoint's blobs and its manifest are one commit.
 * `commitIfAbsent` (and `putIfAbsent`, which is it with no other blobs) reads the head
 * commit, checks the commit key there, and commits with that head as `parentCommit`: the Hub
 * refuses the commit if anyone committed in between, and the check runs again.
 * `.gitattributes` is refused as a key and never listed. The repo is created, private, when
 * it is missing and a token is set.
 */
export const makeHubBlobStore = Effect.fn("HubBlobStore.make")(function*(
  options: HubBlobStoreOptions
): Effect.fn.Return<HubBlobStore, BlobStoreError> {
  const location = { repo: options.repo, repoType: options.repoType ?? "model", path: (options.prefix ?? "").replace(/\/+$/, "") }
  const uri = formatHubUri(location)
  const problem = repoNameProblem(location.repo) ?? validateKey(location.path, { allowEmpty: true })?.reason
  if (problem !== undefined) return yield* new BlobStoreError({ operation: "open", key: location.path, message: `${uri}: ${problem}` })
  const client = yield* makeHubClient(location, options).pipe(storeError("open", ""))
  yield* ensureRepo(client).pipe(storeError("open", ""))

  const folder = location.path === "" ? "" : `${location.path}/`

  const repoPath = Effect.fnUntraced(function*(key: string) {
    yield* checkBlobKey(key)
    if (isReserved(key)) return yield* new UnsafeKeyError({ key, reason: `'${reservedName}' is the Hub repo's own file` })
    return folder + key
  })

  const existsAt = (operation: string, path: string, revision?: string) =>
    client.call(operation, (target) => fileExists({ ...target, path: urlPath(path), ...(revision === undefined ? {} : { revision }) }))

  const get = Effect.fn("HubBlobStore.get")(function*(key: string) {
    const path = yield* repoPath(key)
    const blob = yield* downloadBlob(client, "get", path).pipe(storeError("get", key))
    if (blob === undefined) return yield* new BlobNotFoundError({ key })
    const bytes = yield* client.call("get", () => blob.arrayBuffer()).pipe(storeError("get", key))
    return new Uint8Array(bytes)
  })

  const put = Effect.fn("HubBlobStore.put")(function*(key: string, bytes: Uint8Array) {
    const path = yield* repoPath(key)
    yield* commitToHub(client, `sous: put ${key}`, addOperations([{ path, bytes }])).pipe(storeError("put", key))
  })

  // Every blob, then the commit key, in one commit pinned to the head at which the commit
  // key was seen absent. `operation` names the span and the errors.
  const commitUnlessPresent = (operation: string) =>
    Effect.fn(`HubBlobStore.${operation}`)(function*(
      blobs: ReadonlyArray<{ readonly key: string; readonly bytes: Uint8Array }>,
      commitKey: string,
      commitBytes: Uint8Array,
      message: string
    ) {
      const files = [...blobs, { key: commitKey, bytes: commitBytes }]
      // Every key is checked before anything reaches the Hub.
      const paths = yield* Effect.forEach(files, ({ key }) => repoPath(key))
      const repeated = files.find(({ key }, index) => files.findIndex((other) => other.key === key) !== index)
      if (repeated !== undefined) {
        return yield* new BlobStoreError({ operation, key: repeated.key, message: `${uri}: '${repeated.key}' is given twice in one commit` })
      }
      const commitPath = paths[paths.length - 1]!
      const operations = addOperations(files.map(({ bytes }, index) => ({ path: paths[index]!, bytes })))
      return yield* Effect.gen(function*() {
        const head = yield* headCommit(client)
        if (yield* existsAt(operation, commitPath, head)) return false
        yield* commitToHub(client, message, operations, head)
        return true
      }).pipe(Effect.retry(conflictRetry), storeError(operation, commitKey))
    })

  const commitIfAbsent = commitUnlessPresent("commitIfAbsent")
  const putOneIfAbsent = commitUnlessPresent("putIfAbsent")
  const putIfAbsent = (key: string, bytes: Uint8Array) => putOneIfAbsent([], key, bytes, `sous: put ${key} if absent`)

  const exists = Effect.fn("HubBlobStore.exists")(function*(key: string) {
    const path = yield* repoPath(key)
    return yield* existsAt("exists", path).pipe(storeError("exists", key))
  })

  const list = Effect.fn("HubBlobStore.list")(function*(prefix: string) {
    yield* checkBlobPrefix(prefix)
    const start = folder + prefix
    // List only the deepest folder the prefix names, not the whole repo.
    const directory = start.slice(0, Math.max(0, start.lastIndexOf("/")))
    const paths = yield* client.call("list", async (target) => {
      const found: Array<string> = []
      try {
        for await (const entry of listFiles({ ...target, path: urlPath(directory), recursive: true })) {
          if (entry.type === "file") found.push(entry.path)
        }
      } catch (error) {
        // A folder that does not exist holds no blobs (the repo itself was checked on open).
        if (error instanceof HubApiError && error.statusCode === 404) return []
        throw error
      }
      return found
    }).pipe(storeError("list", prefix))
    return paths.filter((path) => path.startsWith(start) && !isReserved(path)).map((path) => path.slice(folder.length)).sort()
  })

  const remove = Effect.fn("HubBlobStore.delete")(function*(key: string) {
    const path = yield* repoPath(key)
    // Deleting a blob that is not there is not an error, and not worth an empty commit.
    if (!(yield* existsAt("delete", path).pipe(storeError("delete", key)))) return
    yield* commitToHub(client, `sous: delete ${key}`, [{ operation: "delete", path }]).pipe(
      // A concurrent delete may have got there first; then the goal is met all the same.
      Effect.catch((error) => Effect.flatMap(existsAt("delete", path), (still) => still ? Effect.fail(error) : Effect.void)),
      storeError("delete", key)
    )
  })

  return { ...BlobStore.of({ uri, get, put, putIfAbsent, exists, list, delete: remove }), commitIfAbsent }
})

/** A layer with a Hub {@link BlobStore}; see {@link makeHubBlobStore}. */
export const hubBlobStoreLayer = (options: HubBlobStoreOptions): Layer.Layer<BlobStore, BlobStoreError> =>
  Layer.effect(BlobStore, makeHubBlobStore(options))
