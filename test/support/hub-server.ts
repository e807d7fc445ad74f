import { createHash, randomBytes } from "node:crypto"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { Effect, type Scope } from "effect"

/**
 * A local stand-in for the Hugging Face Hub, speaking the wire formats @huggingface/hub
 * 2.17.5 uses (read from its source): repo info and creation, tree listing with `Link`
 * pagination, commit listing, `resolve`/`raw` downloads with `Range` requests (the
 * `bytes=0-0` probe, a download resumed with `bytes=<n>-`), preupload, the LFS batch API
 * with `basic` transfer, and NDJSON commits with `parentCommit`. Repos live in memory; each
 * commit is a new immutable snapshot, so a commit applies all of its files or none, and old
 * revisions stay readable by commit id. Faults a real Hub or network shows can be switched
 * on: a download whose connection drops mid-body, a server that ignores `Range`.
 */

/** The repo kinds the stand-in serves. */
export type StandInRepoType = "model" | "dataset"

/** A commit as the stand-in recorded it, for assertions. */
export interface StandInCommit {
  readonly oid: string
  readonly title: string
  /** Paths the commit added, changed or deleted. */
  readonly paths: ReadonlyArray<string>
}

/** A running stand-in Hub. */
export interface HubServer {
  /** Base URL, `http://127.0.0.1:<port>`: pass it as `hubUrl`. */
  readonly url: string
  /** The one token the stand-in accepts (it starts with `hf_`, as the client requires). */
  readonly token: string
  /** Commits of a repo, oldest first (the creation commit included); empty if it does not exist. */
  readonly commits: (repo: string, repoType?: StandInRepoType) => ReadonlyArray<StandInCommit>
  /** Whether a repo was created private; undefined if it does not exist. */
  readonly isPrivate: (repo: string, repoType?: StandInRepoType) => boolean | undefined
  /** Creates the repo (public) if needed and commits these files to it, without HTTP. */
  readonly seed: (repo: string, repoType: StandInRepoType, files: Readonly<Record<string, string | Uint8Array>>) => void
  /**
   * Makes full downloads send half of the file and then wait until the returned function
   * is called, so a test can show a reader streams instead of buffering.
   */
  readonly holdDownloads: () => () => void
  /**
   * Makes the next downloads of the file at `path` (in any repo) send their headers and the
   * first `lengths[i]` bytes of their body, then drop the connection: one download per
   * entry, in order, the bytes counted from the start of the body that was asked for.
   */
  readonly cutDownloads: (path: string, lengths: ReadonlyArray<number>) => void
  /** Makes every download ignore `Range` from now on, answering 200 and the whole file. */
  readonly ignoreRanges: () => void
  /** Every request so far, as `METHOD /path?query`, oldest first: for counting downloads. */
  readonly requests: () => ReadonlyArray<string>
  /** The `Range` header (undefined: none) of each GET of the file at `path`, oldest first. */
  readonly downloadRanges: (path: string) => ReadonlyArray<string | undefined>
}

/** Tuning knobs: small pages exercise the client's pagination. */
export interface HubServerOptions {
  /** Tree entries per page (the Hub uses 1,000). */
  readonly pageSize?: number
}

// Files at least this large go through LFS, as do files with a NUL byte (binary).
const lfsThreshold = 1024 * 1024
// How long a download cut short waits, its bytes sent, before it drops the connection.
const cutDelayMs = 250
const goesThroughLfs = (size: number, sample: Uint8Array): boolean => size >= lfsThreshold || sample.includes(0)

interface StoredFile {
  readonly bytes: Uint8Array
  readonly oid: string
  readonly lfs: boolean
}

interface Commit extends StandInCommit {
  readonly date: string
  readonly files: ReadonlyMap<string, StoredFile>
}

interface TreeEntry {
  readonly type: "file" | "directory"
  readonly path: string
  readonly size: number
  readonly oid: string
  readonly lfs?: { readonly oid: string; readonly size: number; readonly pointerSize: number }
}

interface Repo {
  readonly type: StandInRepoType
  readonly name: string
  readonly private: boolean
  readonly commits: Array<Commit>
}

/** An HTTP failure with the Hub's error headers and JSON body. */
class HubFailure extends Error {
  constructor(readonly status: number, message: string, readonly errorCode?: string) {
    super(message)
  }
}

const sha1 = (data: Uint8Array | string): string => createHash("sha1").update(data).digest("hex")
const sha256 = (data: Uint8Array): string => createHash("sha256").update(data).digest("hex")

// Git names a blob by the SHA-1 of a small header and its bytes; the tree API reports it.
const gitBlobOid = (bytes: Uint8Array): string => sha1(Buffer.concat([Buffer.from(`blob ${bytes.length}\0`), bytes]))

// What the Hub writes into a new repo's first commit.
const initialGitAttributes = "*.bin filter=lfs diff=lfs merge=lfs -text\n*.safetensors filter=lfs diff=lfs merge=lfs -text\n"

const readBody = async (request: http.IncomingMessage): Promise<Buffer> => {
  const chunks: Array<Buffer> = []
  for await (const chunk of request) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

const sendJson = (response: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}): void => {
  response.writeHead(status, { "Content-Type": "application/json", ...headers })
  response.end(JSON.stringify(body))
}

const repoKey = (type: StandInRepoType, name: string): string => `${type}/${name}`

const repoTypeOf = (plural: string | undefined): StandInRepoType => {
  if (plural === "models") return "model"
  if (plural === "datasets") return "dataset"
  throw new HubFailure(404, `unknown repo type ${plural}`)
}

/** A directory of the snapshot holds something below it. */
const isDirectory = (files: ReadonlyMap<string, StoredFile>, path: string): boolean =>
  [...files.keys()].some((file) => file.startsWith(`${path}/`))

/** Starts a stand-in Hub on 127.0.0.1 (a free port) for the life of the scope. */
export const hubServer = (options: HubServerOptions = {}): Effect.Effect<HubServer, never, Scope.Scope> => {
  const pageSize = options.pageSize ?? 1000
  const token = `hf_standin${randomBytes(12).toString("hex")}`
  const repos = new Map<string, Repo>()
  const lfsObjects = new Map<string, Uint8Array>()
  let commitCounter = 0
  let hold: Promise<void> | undefined
  let rangesIgnored = false
  // Per file path, the body lengths after which its next downloads drop the connection.
  const cuts = new Map<string, Array<number>>()
  const requestLog: Array<{ readonly line: string; readonly range: string | undefined }> = []

  const storedFile = (bytes: Uint8Array, lfs: boolean): StoredFile => ({ bytes, oid: gitBlobOid(bytes), lfs })

  const makeCommit = (title: string, files: ReadonlyMap<string, StoredFile>, paths: ReadonlyArray<string>): Commit => {
    commitCounter += 1
    const oid = sha1(`${commitCounter}\n${title}\n${Date.now()}`)
    return { oid, title, paths, date: new Date().toISOString(), files }
  }

  const createRepo = (type: StandInRepoType, name: string, isPrivate: boolean): Repo => {
    const files = new Map([[".gitattributes", storedFile(new TextEncoder().encode(initialGitAttributes), false)]])
    const repo: Repo = { type, name, private: isPrivate, commits: [makeCommit("initial commit", files, [".gitattributes"])] }
    repos.set(repoKey(type, name), repo)
    return repo
  }

  const findRepo = (type: StandInRepoType, name: string): Repo => {
    const repo = repos.get(repoKey(type, name))
    if (repo === undefined) throw new HubFailure(404, `Repository not found: ${name}`, "RepoNotFound")
    return repo
  }

  const head = (repo: Repo): Commit => repo.commits[repo.commits.length - 1]!

  const findRevision = (repo: Repo, revision: string): Commit => {
    const commit = revision === "main" ? head(repo) : repo.commits.find((candidate) => candidate.oid === revision)
    if (commit === undefined) throw new HubFailure(404, `Invalid rev id: ${revision}`, "RevisionNotFound")
    return commit
  }

  const authorize = (request: http.IncomingMessage, required: boolean): void => {
    const header = request.headers.authorization
    // Like the Hub: a wrong token fails any request; no token fails only writes.
    if (header === undefined ? required : header !== `Bearer ${token}`) {
      throw new HubFailure(401, "Invalid credentials in Authorization header")
    }
  }

  /** Applies a commit's operations to a copy of the head; throws before anything is stored. */
  const applyCommit = (repo: Repo, lines: ReadonlyArray<{ key: string; value: Record<string, unknown> }>): Commit => {
    const [header, ...operations] = lines
    if (header?.key !== "header" || typeof header.value["summary"] !== "string") throw new HubFailure(400, "missing commit header")
    const parentCommit = header.value["parentCommit"]
    const parent = head(repo)
    if (parentCommit !== undefined && parentCommit !== parent.oid) {
      throw new HubFailure(412, "A commit has happened since. Please refresh and try again.")
    }
    const files = new Map(parent.files)
    const paths: Array<string> = []
    for (const { key, value } of operations) {
      const path = String(value["path"])
      paths.push(path)
      if (key === "file") {
        if (value["encoding"] !== "base64") throw new HubFailure(400, `unsupported encoding for ${path}`)
        files.set(path, storedFile(Buffer.from(String(value["content"]), "base64"), false))
      } else if (key === "lfsFile") {
        const bytes = lfsObjects.get(String(value["oid"]))
        if (bytes === undefined || bytes.length !== value["size"]) throw new HubFailure(400, `LFS object of ${path} was not uploaded`)
        files.set(path, storedFile(bytes, true))
      } else if (key === "deletedFile") {
        if (!files.delete(path)) throw new HubFailure(404, `File not found: ${path}`, "EntryNotFound")
      } else {
        throw new HubFailure(400, `unknown commit operation ${key}`)
      }
    }
    // Git cannot hold a file where a directory is, nor the other way round.
    for (const path of files.keys()) {
      const segments = path.split("/")
      for (let depth = 1; depth < segments.length; depth++) {
        if (files.has(segments.slice(0, depth).join("/"))) throw new HubFailure(400, `${path} is below a file`)
      }
    }
    return makeCommit(String(header.value["summary"]), files, paths)
  }

  /** The tree API's entries under `dir`: its files and folders, or everything below it when recursive. */
  const treeEntries = (commit: Commit, dir: string, recursive: boolean): Array<TreeEntry> => {
    const base = dir === "" ? "" : `${dir}/`
    if (dir !== "" && !isDirectory(commit.files, dir)) throw new HubFailure(404, `${dir} does not exist on this revision`, "EntryNotFound")
    const entries = new Map<string, TreeEntry>()
    const addDirectory = (path: string) => entries.set(path, { type: "directory", path, size: 0, oid: sha1(path) })
    for (const [path, file] of commit.files) {
      if (!path.startsWith(base)) continue
      const segments = path.slice(base.length).split("/")
      if (!recursive && segments.length > 1) {
        addDirectory(base + segments[0])
        continue
      }
      for (let depth = 1; depth < segments.length; depth++) addDirectory(base + segments.slice(0, depth).join("/"))
      const size = file.bytes.length
      entries.set(path, { type: "file", path, size, oid: file.oid, ...(file.lfs ? { lfs: { oid: sha256(file.bytes), size, pointerSize: 134 } } : {}) })
    }
    return [...entries.values()].sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
  }

  /** Sends `body`, or with `cut`, its first `cut` bytes and then drops the connection. */
  const sendBody = (response: http.ServerResponse, body: Uint8Array, cut: number | undefined): void => {
    if (cut === undefined) {
      response.end(body)
      return
    }
    // The headers promised the whole body; once these bytes are out, the socket closes. Not at
    // once: fetch drops what it has received but not yet handed on when the connection dies,
    // and a test wants the client to have read the bytes that were sent.
    response.flushHeaders()
    response.write(body.subarray(0, cut), () => setTimeout(() => response.socket?.destroy(), cut === 0 ? 0 : cutDelayMs))
  }

  const serveFile = async (request: http.IncomingMessage, response: http.ServerResponse, repo: Repo, revision: string, path: string) => {
    const commit = findRevision(repo, revision)
    const file = commit.files.get(path)
    if (file === undefined) throw new HubFailure(404, `Entry not found: ${path}`, "EntryNotFound")
    const size = file.bytes.length
    const headers = { "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes", ETag: `"${file.oid}"`, "X-Repo-Commit": commit.oid }
    if (request.method === "HEAD") {
      response.writeHead(200, { ...headers, "Content-Length": size })
      response.end()
      return
    }
    const range = rangesIgnored ? null : /^bytes=(\d+)-(\d*)$/.exec(request.headers.range ?? "")
    const cut = cuts.get(path)?.shift()
    if (range !== null) {
      const start = Number(range[1])
      const end = Math.min(range[2] === "" ? size - 1 : Number(range[2]), size - 1)
      // RFC 9110: a range that starts past the end (any range of an empty file) cannot be served.
      if (start >= size) {
        response.writeHead(416, { ...headers, "Content-Range": `bytes */${size}` })
        response.end()
        return
      }
      response.writeHead(206, { ...headers, "Content-Range": `bytes ${start}-${end}/${size}`, "Content-Length": end - start + 1 })
      sendBody(response, file.bytes.subarray(start, end + 1), cut)
      return
    }
    response.writeHead(200, { ...headers, "Content-Length": size })
    if (cut !== undefined) return sendBody(response, file.bytes, cut)
    const gate = hold
    if (gate === undefined) {
      response.end(file.bytes)
      return
    }
    const half = Math.floor(size / 2)
    response.write(file.bytes.subarray(0, half))
    await gate
    response.end(file.bytes.subarray(half))
  }

  const route = async (request: http.IncomingMessage, response: http.ServerResponse, baseUrl: string): Promise<void> => {
    const url = new URL(request.url ?? "/", baseUrl)
    const segments = url.pathname.split("/").slice(1).map(decodeURIComponent)
    const method = request.method ?? "GET"

    if (method === "PUT" && segments[0] === "lfs-upload") {
      const bytes = await readBody(request)
      if (sha256(bytes) !== segments[1]) throw new HubFailure(400, "uploaded bytes do not match the LFS oid")
      lfsObjects.set(segments[1], new Uint8Array(bytes))
      response.writeHead(200)
      response.end()
      return
    }

    if (segments[0] === "api") {
      if (method === "POST" && segments[1] === "repos" && segments[2] === "create") {
        authorize(request, true)
        const body = JSON.parse((await readBody(request)).toString("utf8")) as { name: string; organization: string; type?: string; visibility?: string }
        const type: StandInRepoType = body.type === "dataset" ? "dataset" : "model"
        const name = `${body.organization}/${body.name}`
        const url = `${baseUrl}/${type === "dataset" ? "datasets/" : ""}${name}`
        if (repos.has(repoKey(type, name))) throw new HubFailure(409, `You already created this ${type} repo`)
        createRepo(type, name, body.visibility === "private")
        sendJson(response, 200, { url, name, id: name })
        return
      }
      const type = repoTypeOf(segments[1])
      const name = `${segments[2]}/${segments[3]}`
      const [action, revision, ...rest] = segments.slice(4)
      const writes = method !== "GET" && method !== "HEAD"
      authorize(request, writes)
      const repo = findRepo(type, name)
      if (action === undefined && method === "GET") {
        sendJson(response, 200, { _id: sha1(name), id: name, private: repo.private, sha: head(repo).oid })
      } else if (action === "tree" && method === "GET") {
        const all = treeEntries(findRevision(repo, revision ?? "main"), rest.join("/"), url.searchParams.get("recursive") === "true")
        const cursor = Number(url.searchParams.get("cursor") ?? "0")
        const next = cursor + pageSize
        const headers: http.OutgoingHttpHeaders = {}
        if (next < all.length) {
          const nextUrl = new URL(url)
          nextUrl.searchParams.set("cursor", String(next))
          headers["Link"] = `<${nextUrl.href}>; rel="next"`
        }
        sendJson(response, 200, all.slice(cursor, next), headers)
      } else if (action === "commits" && method === "GET") {
        const limit = Number(url.searchParams.get("limit") ?? "100")
        const until = repo.commits.indexOf(findRevision(repo, revision ?? "main"))
        const commits = repo.commits.slice(0, until + 1).reverse().slice(0, limit)
        sendJson(response, 200, commits.map((commit) => ({ id: commit.oid, title: commit.title, message: "", authors: [], date: commit.date })))
      } else if (action === "preupload" && method === "POST") {
        const body = JSON.parse((await readBody(request)).toString("utf8")) as { files: Array<{ path: string; size: number; sample: string }> }
        sendJson(response, 200, {
          files: body.files.map((file) => ({
            path: file.path,
            // Like the Hub: large or binary files go through LFS, small text files inline.
            uploadMode: goesThroughLfs(file.size, Buffer.from(file.sample, "base64")) ? "lfs" : "regular"
          }))
        })
      } else if (action === "commit" && method === "POST") {
        if (revision !== "main") throw new HubFailure(404, `Invalid rev id: ${revision}`, "RevisionNotFound")
        const lines = (await readBody(request)).toString("utf8").split("\n").filter((line) => line !== "")
        const commit = applyCommit(repo, lines.map((line) => JSON.parse(line) as { key: string; value: Record<string, unknown> }))
        // Node runs this handler alone from here on: the commit lands whole.
        repo.commits.push(commit)
        sendJson(response, 200, { success: true, commitOid: commit.oid, commitUrl: `${baseUrl}/${name}/commit/${commit.oid}`, hookOutput: "" })
      } else {
        throw new HubFailure(404, `no route ${method} ${url.pathname}`)
      }
      return
    }

    // Repo URLs: `/{ns}/{name}/…` for models, `/datasets/{ns}/{name}/…` for datasets.
    const type: StandInRepoType = segments[0] === "datasets" ? "dataset" : "model"
    const [namespace, repoName, action, revision, ...path] = type === "dataset" ? segments.slice(1) : segments
    if (method === "POST" && repoName?.endsWith(".git") && action === "info" && revision === "lfs") {
      authorize(request, true)
      findRepo(type, `${namespace}/${repoName.slice(0, -".git".length)}`)
      const body = JSON.parse((await readBody(request)).toString("utf8")) as { objects: Array<{ oid: string; size: number }> }
      response.writeHead(200, { "Content-Type": "application/vnd.git-lfs+json" })
      response.end(JSON.stringify({
        transfer: "basic",
        objects: body.objects.map(({ oid, size }) => ({
          oid,
          size,
          authenticated: true,
          ...(lfsObjects.has(oid) ? {} : { actions: { upload: { href: `${baseUrl}/lfs-upload/${oid}` } } })
        }))
      }))
      return
    }
    if ((method === "GET" || method === "HEAD") && (action === "resolve" || action === "raw") && revision !== undefined) {
      authorize(request, false)
      await serveFile(request, response, findRepo(type, `${namespace}/${repoName}`), revision, path.join("/"))
      return
    }
    throw new HubFailure(404, `no route ${method} ${url.pathname}`)
  }

  return Effect.acquireRelease(
    Effect.callback<http.Server>((resume) => {
      const server = http.createServer((request, response) => {
        requestLog.push({ line: `${request.method} ${request.url}`, range: request.headers.range })
        const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
        route(request, response, baseUrl).catch((error: unknown) => {
          if (response.headersSent) return response.destroy()
          const failure = error instanceof HubFailure ? error : new HubFailure(500, String(error))
          sendJson(response, failure.status, { error: failure.message }, failure.errorCode === undefined ? {} : { "X-Error-Code": failure.errorCode })
        })
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.callback<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map((server): HubServer => ({
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    token,
    commits: (repo, repoType = "model") => repos.get(repoKey(repoType, repo))?.commits.map(({ oid, title, paths }) => ({ oid, title, paths })) ?? [],
    requests: () => requestLog.map(({ line }) => line),
    downloadRanges: (path) =>
      requestLog.filter(({ line }) => line.startsWith("GET ") && line.includes("/resolve/") && line.endsWith(`/${path}`)).map(({ range }) => range),
    cutDownloads: (path, lengths) => cuts.set(path, [...lengths]),
    ignoreRanges: () => {
      rangesIgnored = true
    },
    isPrivate: (repo, repoType = "model") => repos.get(repoKey(repoType, repo))?.private,
    seed: (repo, repoType, files) => {
      const target = repos.get(repoKey(repoType, repo)) ?? createRepo(repoType, repo, false)
      const next = new Map(head(target).files)
      for (const [path, content] of Object.entries(files)) {
        const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content
        // As a push to the Hub would store them: large or binary files in LFS.
        next.set(path, storedFile(bytes, goesThroughLfs(bytes.length, bytes)))
      }
      target.commits.push(makeCommit("seed", next, Object.keys(files)))
    },
    holdDownloads: () => {
      let release = (): void => undefined
      hold = new Promise((resolve) => {
        release = () => {
          hold = undefined
          resolve()
        }
      })
      return release
    }
  })))
}
