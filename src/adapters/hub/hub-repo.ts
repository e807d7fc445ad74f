import { commit, type CommitOperation, createRepo, downloadFile, HubApiError, listCommits, repoExists } from "@huggingface/hub"
import { Effect } from "effect"
import type { HubFile } from "../../ports/index.js"
import type { HubClient } from "./hub-client.js"
import { HubRequestError } from "./hub-request-error.js"

/**
 * A repo path as it goes into a download or listing URL. @huggingface/hub pastes paths into
 * URLs as they are, so a `#`, `?`, `%` or space in a key would change the request.
 */
export const urlPath = (path: string): string => path.split("/").map(encodeURIComponent).join("/")

/**
 * The file at `path` on the main branch, as a Blob that fetches its bytes when read (so a
 * reader can stream them), or undefined when there is no such file.
 */
export const downloadBlob = Effect.fn("HubRepo.download")(function*(client: HubClient, operation: string, path: string) {
  return yield* client.call(operation, async (target) => {
    try {
      return await downloadFile({ ...target, path: urlPath(path) }) ?? undefined
    } catch (error) {
      // @huggingface/hub first asks for `Range: bytes=0-0` to learn the size; no server can
      // serve that range of an empty file (416), so the file is there and holds nothing.
      if (error instanceof HubApiError && error.statusCode === 416) return new Blob([])
      throw error
    }
  })
})

/** A commit that adds or replaces each file. */
export const addOperations = (files: ReadonlyArray<HubFile>): Array<CommitOperation> =>
  // A copy, so the caller cannot change the bytes while the commit uploads them.
  files.map(({ path, bytes }) => ({ operation: "addOrUpdate", path, content: new Blob([new Uint8Array(bytes)]) }))

/** The id of the newest commit on the main branch. */
export const headCommit = Effect.fn("HubRepo.headCommit")(function*(client: HubClient) {
  const newest = yield* client.call("read head commit", async (target) => {
    const commits = listCommits({ ...target, batchSize: 1 })
    const first = await commits.next()
    await commits.return(undefined)
    return first.done === true ? undefined : first.value.oid
  })
  if (newest === undefined) return yield* new HubRequestError({ operation: "read head commit", uri: client.uri, message: `${client.uri} has no commits` })
  return newest
})

/**
 * Commits `operations` to the main branch in one commit and answers its id. With
 * `parentCommit`, the Hub refuses the commit (HTTP 412) if the branch has moved past it.
 */
export const commitToHub = Effect.fn("HubRepo.commit")(function*(
  client: HubClient,
  title: string,
  operations: Array<CommitOperation>,
  parentCommit?: string
) {
  const output = yield* client.call("commit", (target) =>
    commit({ ...target, title, operations, ...(parentCommit === undefined ? {} : { parentCommit }) }))
  if (output === undefined) return yield* new HubRequestError({ operation: "commit", uri: client.uri, message: `the Hub answered no commit id for ${client.uri}` })
  return output.commit.oid
})

/**
 * Makes sure the repo exists, creating it (private unless told otherwise) when it does not.
 * Creating needs a token; without one a missing repo is an error that says so.
 */
export const ensureRepo = Effect.fn("HubRepo.ensure")(function*(client: HubClient, options: { readonly private?: boolean } = {}) {
  if (yield* client.call("check repo", (target) => repoExists(target))) return
  yield* client.call("create repo", async ({ accessToken, ...target }) => {
    if (accessToken === undefined) {
      throw new Error("the repo does not exist (or is private) and no token was given to create it; set HF_TOKEN")
    }
    try {
      await createRepo({ ...target, accessToken, visibility: options.private === false ? "public" : "private" })
    } catch (error) {
      // Another writer created it between our check and our request: the goal is met.
      if (!(error instanceof HubApiError && error.statusCode === 409)) throw error
    }
  })
})
