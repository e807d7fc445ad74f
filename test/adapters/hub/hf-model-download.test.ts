import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, Redacted } from "effect"
import { createHash } from "node:crypto"
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { downloadHfModel, type HfDownloadOptions, parseHfModelUri } from "../../../src/adapters/hub/hf-model-download.js"
import { type HubServer, hubServer } from "../../support/hub-server.js"
import { tempDirectory } from "../../support/temp-directory.js"

// The sharded fixture (an index and three shards), served as the model repo org/tiny.
const fixture = resolve(dirname(fileURLToPath(import.meta.url)), "../../fixtures/hf/llama-bf16-sharded")
const fixtureFiles = Object.fromEntries(readdirSync(fixture).map((name) => [name, new Uint8Array(readFileSync(join(fixture, name)))]))
const modelFiles = ["config.json", "generation_config.json", "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors", "model.safetensors.index.json"]

const shard = "model-00002-of-00003.safetensors"
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")

/** Runs `effect`, keeping the messages it logs as warnings. */
const logged = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const warnings: Array<string> = []
    const capture = Logger.make(({ logLevel, message }) => {
      if (logLevel === "Warn") warnings.push(([] as Array<unknown>).concat(message).join(" "))
    })
    const result = yield* effect.pipe(Effect.provide(Logger.layer([capture])))
    return { result, warnings }
  })

const servedRepo = Effect.gen(function*() {
  const server = yield* hubServer()
  server.seed("org/tiny", "model", fixtureFiles)
  const cacheDir = yield* tempDirectory("hf-cache")
  const downloads = () => server.requests().filter((request) => request.includes("/resolve/")).length
  return { server, cacheDir, downloads, options: { hubUrl: server.url, cacheDir } }
})

describe("downloadHfModel", () => {
  it.effect("downloads the config files and the index with its shards into <cache>/org/tiny/<commit>, pinned to that commit", () =>
    Effect.gen(function*() {
      const { server, options } = yield* servedRepo
      const head = server.commits("org/tiny").at(-1)!.oid
      const model = yield* downloadHfModel("hf://org/tiny@main", options)
      assert.strictEqual(model.commit, head)
      assert.strictEqual(model.pinned, `hf://org/tiny@${head}`)
      assert.strictEqual(model.dir, join(options.cacheDir, "org", "tiny", head))
      assert.deepStrictEqual([...model.fetched].sort(), modelFiles)
      // What a model directory does not need (the fixture's reference.json, .gitattributes) stays on the Hub.
      assert.deepStrictEqual(readdirSync(model.dir).sort(), modelFiles)
      for (const name of modelFiles) assert.deepStrictEqual(new Uint8Array(readFileSync(join(model.dir, name))), fixtureFiles[name], name)
    }))

  it.effect("a second download fetches no file; a damaged file and a leftover partial one are fetched again", () =>
    Effect.gen(function*() {
      const { downloads, options } = yield* servedRepo
      const first = yield* downloadHfModel("hf://org/tiny", options)
      const afterFirst = downloads()
      const again = yield* downloadHfModel("hf://org/tiny", options)
      assert.deepStrictEqual(again.fetched, [])
      assert.strictEqual(downloads(), afterFirst)

      // Same size, one byte changed: only the hash can tell.
      const shard = join(first.dir, "model-00002-of-00003.safetensors")
      const damaged = readFileSync(shard)
      damaged[damaged.length - 1] = damaged[damaged.length - 1]! ^ 0xff
      writeFileSync(shard, damaged)
      // A truncated file (downloads go to a temporary name, but a disk or a person may cut one short).
      writeFileSync(join(first.dir, "config.json"), fixtureFiles["config.json"]!.subarray(0, 10))
      const repaired = yield* downloadHfModel("hf://org/tiny", options)
      assert.deepStrictEqual([...repaired.fetched].sort(), ["config.json", "model-00002-of-00003.safetensors"])
      assert.deepStrictEqual(new Uint8Array(readFileSync(shard)), fixtureFiles["model-00002-of-00003.safetensors"])
      assert.isFalse(readdirSync(first.dir).some((name) => name.endsWith(".partial")))
    }))

  // A cut download keeps what reached the client: the 5000 bytes sent, unless the machine was
  // too slow to take them all before the connection dropped. `kept` is what it had.
  it.effect("a download whose connection drops goes on from the bytes it has (Range: bytes=N-), and the file is whole", () =>
    Effect.gen(function*() {
      const { server, options } = yield* servedRepo
      server.cutDownloads(shard, [5000])
      const { result: model, warnings } = yield* logged(downloadHfModel("hf://org/tiny", options))
      const kept = Number(/stopped at byte (\d+) of 19504: resuming$/.exec(warnings[0] ?? "")?.[1])
      assert.isTrue(kept > 0 && kept <= 5000, warnings.join("\n"))
      assert.deepStrictEqual(warnings, [`the download of ${shard} from hf://org/tiny stopped at byte ${kept} of 19504: resuming`])
      assert.deepStrictEqual(server.downloadRanges(shard), [undefined, `bytes=${kept}-`])
      assert.deepStrictEqual(new Uint8Array(readFileSync(join(model.dir, shard))), fixtureFiles[shard])
      assert.isFalse(readdirSync(model.dir).some((name) => name.endsWith(".partial")))
    }))

  /** A download of the shard that fails: 5000 bytes, then three drops that bring nothing. Answers the partial file. */
  const failedDownload = (server: HubServer, options: HfDownloadOptions) =>
    Effect.gen(function*() {
      const head = server.commits("org/tiny").at(-1)!.oid
      const dir = join(options.cacheDir!, "org", "tiny", head)
      server.cutDownloads(shard, [5000, 0, 0, 0])
      const error = yield* Effect.flip(logged(downloadHfModel("hf://org/tiny", options)))
      const partial = join(dir, `${shard}.${sha256(fixtureFiles[shard]!)}.partial`)
      const kept = readFileSync(partial).length
      assert.isTrue(kept > 0 && kept <= 5000)
      assert.include(error.message, `download ${shard}@${head} on hf://org/tiny failed: the connection dropped 3 times in a row with nothing new, at byte ${kept} of 19504 (terminated: other side closed); ${partial} keeps those bytes`)
      assert.deepStrictEqual(server.downloadRanges(shard), [undefined, ...Array(3).fill(`bytes=${kept}-`)])
      assert.isFalse(existsSync(join(dir, shard)))
      return { partial, kept }
    })

  it.effect("a download that keeps failing keeps its bytes, and the next one resumes from them", () =>
    Effect.gen(function*() {
      const { server, options } = yield* servedRepo
      const { partial, kept } = yield* failedDownload(server, options)
      const model = yield* downloadHfModel("hf://org/tiny", options)
      assert.deepStrictEqual(server.downloadRanges(shard).slice(4), [`bytes=${kept}-`])
      assert.deepStrictEqual(new Uint8Array(readFileSync(join(model.dir, shard))), fixtureFiles[shard])
      assert.isFalse(existsSync(partial))
    }))

  it.effect("a damaged partial download fails the SHA-256 check once resumed: it is discarded and the file fetched whole", () =>
    Effect.gen(function*() {
      const { server, options } = yield* servedRepo
      const { partial, kept } = yield* failedDownload(server, options)
      const damaged = readFileSync(partial)
      damaged[kept - 1] = damaged[kept - 1]! ^ 0xff
      writeFileSync(partial, damaged)

      const { result: model, warnings } = yield* logged(downloadHfModel("hf://org/tiny", options))
      assert.deepStrictEqual(server.downloadRanges(shard).slice(4), [`bytes=${kept}-`, undefined])
      assert.deepStrictEqual(new Uint8Array(readFileSync(join(model.dir, shard))), fixtureFiles[shard])
      assert.strictEqual(warnings.length, 1)
      assert.match(warnings[0]!, /does not match the size or hash the Hub lists \(19504 bytes, SHA-256 \w+\); the bytes kept from an earlier try must be damaged, so they were discarded and the file is fetched whole/)
    }))

  it.effect("a server that ignores Range sends the file whole, which replaces the partial", () =>
    Effect.gen(function*() {
      const { server, options } = yield* servedRepo
      server.ignoreRanges()
      server.cutDownloads(shard, [5000])
      const { result: model, warnings } = yield* logged(downloadHfModel("hf://org/tiny", options))
      const kept = Number(/stopped at byte (\d+) of 19504/.exec(warnings[0] ?? "")?.[1])
      assert.deepStrictEqual(server.downloadRanges(shard), [undefined, `bytes=${kept}-`])
      assert.deepStrictEqual(new Uint8Array(readFileSync(join(model.dir, shard))), fixtureFiles[shard])
      assert.include(warnings, `hf://org/tiny answered the whole of ${shard} to a request for its bytes from ${kept} on: the download started over`)
    }))

  it.effect("a commit id pins an older revision; a token is sent and accepted", () =>
    Effect.gen(function*() {
      const { server, options } = yield* servedRepo
      const old = server.commits("org/tiny").at(-1)!.oid
      server.seed("org/tiny", "model", { "config.json": "{}" })
      const model = yield* downloadHfModel(`hf://org/tiny@${old}`, { ...options, token: Redacted.make(server.token) })
      assert.strictEqual(model.commit, old)
      assert.deepStrictEqual(new Uint8Array(readFileSync(join(model.dir, "config.json"))), fixtureFiles["config.json"])
    }))

  it.effect("refuses an unknown repo or revision, a repo without config.json or weights, a wrong token and an unreachable Hub, naming the repo", () =>
    Effect.gen(function*() {
      const { server, options } = yield* servedRepo
      server.seed("org/empty", "model", { "README.md": "nothing here" })
      server.seed("org/no-weights", "model", { "config.json": "{}" })
      const failure = (uri: string, extra = {}) => Effect.flip(downloadHfModel(uri, { ...options, ...extra })).pipe(Effect.map((error) => error.message))
      assert.match(yield* failure("hf://org/missing"), /hf:\/\/org\/missing.*HTTP 404/)
      assert.match(yield* failure("hf://org/tiny@nope"), /resolve revision nope on hf:\/\/org\/tiny failed: HTTP 404/)
      assert.match(yield* failure("hf://org/empty"), /org\/empty@\w+ has no config.json/)
      assert.match(yield* failure("hf://org/no-weights"), /neither model.safetensors nor model.safetensors.index.json/)
      const wrongToken = yield* failure("hf://org/tiny", { token: Redacted.make("hf_wrong") })
      assert.match(wrongToken, /hf:\/\/org\/tiny.*HTTP 401/)
      assert.notInclude(wrongToken, "hf_wrong")
      assert.isFalse(existsSync(join(options.cacheDir, "org", "missing")))
      // Port 1 on loopback: nothing listens there.
      assert.match(yield* failure("hf://org/tiny", { hubUrl: "http://127.0.0.1:1" }), /hf:\/\/org\/tiny failed: cannot reach http:\/\/127.0.0.1:1/)
    }))

  it.effect("reads hf://org/name[@revision] and refuses other forms", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* parseHfModelUri("hf://org/tiny"), { repo: "org/tiny", revision: "main" })
      assert.deepStrictEqual(yield* parseHfModelUri("hf://org/tiny@refs/pr/1"), { repo: "org/tiny", revision: "refs/pr/1" })
      for (const uri of ["hf://org/tiny/sub", "hf://datasets/org/tiny", "hf://org/tiny@", "hf://org/tiny@a/../b"]) {
        const error = yield* Effect.flip(parseHfModelUri(uri))
        assert.include(error.message, "expected hf://org/name[@revision]", uri)
      }
    }))
})
