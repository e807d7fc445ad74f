import { mkdir, readFile } from "node:fs/promises"
import { homedir } from "node:os"
import { join } from "node:path"
import { listCommits, type ListFileEntry, listFiles } from "@huggingface/hub"
import { Config, Effect, Option } from "effect"
import { downloadRepoFile, hubFailure } from "./hf-file-download.js"
import { type HubAccessOptions, type HubClient, makeHubClient } from "./hub-client.js"
import { HubRequestError } from "./hub-request-error.js"
import { repoNameProblem } from "./hub-uri.js"

/** A model repo and the revision asked for: `hf://org/name[@revision]`. */
export interface HfModelRef {
  readonly repo: string
  /** A branch, tag or commit id; `main` when the URI names none. */
  readonly revision: string
}

/** A model downloaded into the cache. */
export interface DownloadedHfModel {
  /** The local directory that holds its files. */
  readonly dir: string
  /** The commit the revision resolved to. */
  readonly commit: string
  /** `hf://org/name@<commit>`: the URI pinned to that commit. */
  readonly pinned: string
  /** The files fetched by this call (those already complete in the cache are not). */
  readonly fetched: ReadonlyArray<string>
}

/** Where and how to download. */
export interface HfDownloadOptions extends HubAccessOptions {
  /** The cache root; default `SOUS_HF_CACHE`, then `~/.cache/sous/hf`. */
  readonly cacheDir?: string
}

// The cache root: `SOUS_HF_CACHE`, else `~/.cache/sous/hf`.
const environmentCacheDir = Config.String("SOUS_HF_CACHE").pipe(Config.option)

/** Reads `hf://org/name[@revision]`; a path inside the repo or a dataset repo is refused. */
export const parseHfModelUri = (uri: string): Effect.Effect<HfModelRef, HubRequestError> => {
  const fail = (message: string) => Effect.fail(new HubRequestError({ operation: "parse", uri, message: `model.hf ${JSON.stringify(uri)}: ${message} (expected hf://org/name[@revision])` }))
  if (!uri.startsWith("hf://")) return fail("not an hf:// URI")
  const rest = uri.slice("hf://".length)
  const at = rest.indexOf("@")
  const repo = at < 0 ? rest : rest.slice(0, at)
  const revision = at < 0 ? "main" : rest.slice(at + 1)
  const problem = repoNameProblem(repo)
  if (problem !== undefined) return fail(problem)
  if (revision === "" || revision.split("/").some((part) => part === "" || part === "..")) return fail(`bad revision ${JSON.stringify(revision)}`)
  return Effect.succeed({ repo, revision })
}

// The files a model directory needs; the weights are added from what the repo holds.
const configFiles = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"]
const singleWeights = "model.safetensors"
const shardIndex = "model.safetensors.index.json"

/** The commit id `revision` names. */
const resolveCommit = (client: HubClient, revision: string) =>
  client.call(`resolve revision ${revision}`, async (target) => {
    const commits = listCommits({ ...target, revision, batchSize: 1 })
    const first = await commits.next()
    await commits.return(undefined)
    return first.done === true ? undefined : first.value.oid
  }).pipe(Effect.flatMap((commit) => commit === undefined ? Effect.fail(hubFailure(client, `resolve revision ${revision}`, "the revision has no commits")) : Effect.succeed(commit)))

/**
 * Downloads the Hugging Face model `uri` (`hf://org/name[@revision]`) into
 * `<cache>/<org>/<name>/<commit>`: config.json, generation_config.json, tokenizer.json,
 * tokenizer_config.json (those the repo holds) and model.safetensors, or its index and the
 * shards the index names. A file already complete in the cache (size and hash as the Hub
 * lists them) is not fetched again; an interrupted download is resumed where it stopped,
 * and a file takes its name only once whole (see `downloadRepoFile`). The token
 * (`HF_TOKEN`) never appears in a message.
 */
export const downloadHfModel = Effect.fn("HfModel.download")(function*(uri: string, options: HfDownloadOptions = {}) {
  const ref = yield* parseHfModelUri(uri)
  const client = yield* makeHubClient({ repo: ref.repo, repoType: "model" }, options)
  const commit = yield* resolveCommit(client, ref.revision)
  const entries = yield* client.call(`list files@${commit}`, async (target) => {
    const found = new Map<string, ListFileEntry>()
    for await (const entry of listFiles({ ...target, revision: commit })) if (entry.type === "file") found.set(entry.path, entry)
    return found
  })
  if (!entries.has("config.json")) return yield* hubFailure(client, "read model", `${ref.repo}@${commit} has no config.json: it is not a Transformers model repo`)
  const cacheDir = options.cacheDir ?? Option.getOrElse(
    yield* Effect.mapError(environmentCacheDir, (error) => hubFailure(client, "configure", `cannot read SOUS_HF_CACHE: ${error.message}`)),
    () => join(homedir(), ".cache", "sous", "hf")
  )
  const dir = join(cacheDir, ...ref.repo.split("/"), commit)
  yield* Effect.tryPromise({ try: () => mkdir(dir, { recursive: true }), catch: (error) => client.toError(`create ${dir}`, error) })
  const present = (paths: ReadonlyArray<string>) => paths.flatMap((path) => entries.get(path) ?? [])
  const fetched: Array<string> = []
  const fetch = (wanted: ReadonlyArray<ListFileEntry>) =>
    Effect.forEach(wanted, (entry) => Effect.map(downloadRepoFile(client, commit, dir, entry), (got) => got && fetched.push(entry.path)), { discard: true })
  yield* fetch(present([...configFiles, entries.has(singleWeights) ? singleWeights : shardIndex]))
  if (!entries.has(singleWeights)) {
    if (!entries.has(shardIndex)) return yield* hubFailure(client, "read model", `${ref.repo}@${commit} has neither ${singleWeights} nor ${shardIndex}`)
    const index = yield* Effect.tryPromise({
      try: async () => JSON.parse(await readFile(join(dir, shardIndex), "utf8")) as { weight_map?: Record<string, string> },
      catch: (error) => client.toError(`read ${shardIndex}`, error)
    })
    const shards = [...new Set(Object.values(index.weight_map ?? {}))]
    const missing = shards.filter((shard) => !entries.has(shard))
    if (missing.length > 0) return yield* hubFailure(client, "read model", `${shardIndex} names shards the repo does not hold: ${missing.join(", ")}`)
    yield* fetch(present(shards))
  }
  return { dir, commit, pinned: `hf://${ref.repo}@${commit}`, fetched } satisfies DownloadedHfModel
})
