import { Effect } from "effect"
import { uriScheme, validateKey } from "../../ports/index.js"
import { HubRequestError } from "./hub-request-error.js"

/** The repo kinds sous reads and writes. */
export type HubRepoType = "model" | "dataset"

/** A repo on the Hub and a path inside it. */
export interface HubLocation {
  /** `namespace/name`. */
  readonly repo: string
  readonly repoType: HubRepoType
  /** A file or folder in the repo, `/`-separated, without a trailing `/`; empty for the repo root. */
  readonly path: string
}

// The Hub's rule for a namespace or a name: letters, digits, `-`, `_`, `.`, neither starting
// nor ending with `-` or `.`, no `--` or `..`, at most 96 characters.
const namePart = /^[A-Za-z0-9_](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?$/

const forms = "hf://user/repo[/path] for a model repo or hf://datasets/user/repo[/path] for a dataset repo"

/** Why `repo` is not a `namespace/name` the Hub accepts, or undefined when it is. */
export const repoNameProblem = (repo: string): string | undefined => {
  if (repo.includes("@")) return "pinning a revision with '@' is not supported; sous uses the main branch"
  const parts = repo.split("/")
  if (parts.length !== 2) return `a repo is named namespace/name, got ${JSON.stringify(repo)}`
  const bad = parts.find((part) => !namePart.test(part) || part.includes("--") || part.includes("..") || part.length > 96)
  return bad === undefined ? undefined : `${JSON.stringify(bad)} is not a valid Hub namespace or repo name`
}

/** The `hf://` URI of a location: `hf://user/repo/path` or `hf://datasets/user/repo/path`. */
export const formatHubUri = (location: HubLocation): string =>
  `hf://${location.repoType === "dataset" ? "datasets/" : ""}${location.repo}${location.path === "" ? "" : `/${location.path}`}`

// Repo kinds the Hub has but sous does not use, and plural mix-ups, each with a hint.
const typeSegments: Readonly<Record<string, string>> = {
  models: `model repos take no type segment: write ${forms}`,
  model: `model repos take no type segment: write ${forms}`,
  dataset: `dataset repos are written hf://datasets/user/repo (plural)`,
  spaces: "Spaces are not supported: only model and dataset repos",
  buckets: "buckets are not supported: only model and dataset repos",
  kernels: "kernel repos are not supported: only model and dataset repos"
}

/**
 * Reads an `hf://` URI: `hf://user/repo[/path]` names a model repo and
 * `hf://datasets/user/repo[/path]` a dataset repo (the convention of the Hub's own
 * tools). The path goes through the blob-key rules, so it cannot climb out of the repo.
 */
export const parseHubUri = (uri: string): Effect.Effect<HubLocation, HubRequestError> => {
  const fail = (message: string) => Effect.fail(new HubRequestError({ operation: "parse", uri, message: `${message} (expected ${forms})` }))
  if (uriScheme(uri) !== "hf") return fail("not an hf:// URI")
  const segments = uri.slice("hf://".length).replace(/\/+$/, "").split("/")
  const hint = typeSegments[segments[0] ?? ""]
  if (hint !== undefined) return fail(hint)
  const repoType: HubRepoType = segments[0] === "datasets" ? "dataset" : "model"
  const rest = repoType === "dataset" ? segments.slice(1) : segments
  const repo = rest.slice(0, 2).join("/")
  const repoProblem = repoNameProblem(repo)
  if (repoProblem !== undefined) return fail(repoProblem)
  const path = rest.slice(2).join("/")
  const pathProblem = validateKey(path, { allowEmpty: true })
  if (pathProblem !== undefined) return fail(`bad path ${JSON.stringify(path)}: ${pathProblem.reason}`)
  return Effect.succeed({ repo, repoType, path })
}
