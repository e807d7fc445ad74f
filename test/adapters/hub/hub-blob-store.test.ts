import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Redacted } from "effect"
import { hubBlobStoreLayer, makeHubBlobStore } from "../../../src/adapters/hub/hub-blob-store.js"
import { BlobStore } from "../../../src/ports/index.js"
import { blobStoreContract } from "../blob/blob-store-contract.js"
import { hubServer } from "../../support/hub-server.js"

const text = (value: string): Uint8Array => new TextEncoder().encode(value)
const decode = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)

const repo = "sous-test/checkpoints"

// A running stand-in and a store on it, with the stand-in's token.
const storeOnServer = (options: { readonly prefix?: string; readonly repoType?: "model" | "dataset"; readonly pageSize?: number } = {}) =>
  Effect.gen(function*() {
    const server = yield* hubServer(options.pageSize === undefined ? {} : { pageSize: options.pageSize })
    const store = yield* makeHubBlobStore({
      repo,
      hubUrl: server.url,
      token: Redacted.make(server.token),
      ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
      ...(options.repoType === undefined ? {} : { repoType: options.repoType })
    })
    return { server, store }
  })

blobStoreContract("HubBlobStore", Effect.map(storeOnServer(), ({ store }) => store))
blobStoreContract("HubBlobStore (dataset repo, prefix)", Effect.map(storeOnServer({ repoType: "dataset", prefix: "runs/r1" }), ({ store }) => store))

// Runs `intrude` just before the first commit request reaches the stand-in, for the life of
// the scope: another writer committing between a store's read of the head and its commit.
// @huggingface/hub sends commits through the global `fetch`, looked up at each call.
const beforeFirstCommit = (intrude: () => void) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const original = globalThis.fetch
      const seen = { commitRequests: 0 }
      globalThis.fetch = (input, init) => {
        const url = new URL(input instanceof Request ? input.url : input)
        if (init?.method === "POST" && url.pathname.endsWith("/commit/main")) {
          seen.commitRequests += 1
          if (seen.commitRequests === 1) intrude()
        }
        return original(input, init)
      }
      return { original, seen }
    }),
    ({ original }) => Effect.sync(() => void (globalThis.fetch = original))
  ).pipe(Effect.map(({ seen }) => seen))

describe("HubBlobStore", () => {
  it.effect("creates a missing repo and names itself hf://", () =>
    Effect.gen(function*() {
      const { server, store } = yield* storeOnServer({ prefix: "ckpt/" })
      assert.strictEqual(store.uri, `hf://${repo}/ckpt`)
      assert.deepStrictEqual(server.commits(repo).map((commit) => commit.title), ["initial commit"])
      const { store: datasetStore } = yield* storeOnServer({ repoType: "dataset" })
      assert.strictEqual(datasetStore.uri, `hf://datasets/${repo}`)
    }))

  it.effect("makes one commit per put and per delete, and none for a no-op delete", () =>
    Effect.gen(function*() {
      const { server, store } = yield* storeOnServer({ prefix: "ckpt" })
      yield* store.put("step-1/weights.bin", text("w1"))
      yield* store.put("step-1/weights.bin", text("w1, again"))
      yield* store.delete("step-1/weights.bin")
      yield* store.delete("step-1/weights.bin")
      assert.isTrue(yield* store.putIfAbsent("manifest.json", text("{}")))
      assert.isFalse(yield* store.putIfAbsent("manifest.json", text("{}")))
      assert.deepStrictEqual(server.commits(repo).slice(1).map((commit) => commit.paths), [
        ["ckpt/step-1/weights.bin"],
        ["ckpt/step-1/weights.bin"],
        ["ckpt/step-1/weights.bin"],
        ["ckpt/manifest.json"]
      ])
    }))

  it.effect("commitIfAbsent writes the blobs and then the commit key in one commit", () =>
    Effect.gen(function*() {
      const { server, store } = yield* storeOnServer({ prefix: "ckpt" })
      // Binary, so it goes through LFS; the others go inline.
      const weights = Uint8Array.from({ length: 4096 }, (_, i) => i % 251)
      const wrote = yield* store.commitIfAbsent([
        { key: "step-2/weights.bin", bytes: weights },
        { key: "step-2/optimizer.bin", bytes: text("adam") }
      ], "step-2/manifest.json", text("{\"step\":2}"), "checkpoint step 2")
      assert.isTrue(wrote)
      const commits = server.commits(repo)
      assert.strictEqual(commits.length, 2)
      assert.strictEqual(commits[1]!.title, "checkpoint step 2")
      assert.deepStrictEqual(commits[1]!.paths, ["ckpt/step-2/weights.bin", "ckpt/step-2/optimizer.bin", "ckpt/step-2/manifest.json"])
      assert.deepStrictEqual(yield* store.get("step-2/weights.bin"), weights)
      assert.strictEqual(decode(yield* store.get("step-2/manifest.json")), "{\"step\":2}")
      assert.deepStrictEqual(yield* store.list("step-2/"), ["step-2/manifest.json", "step-2/optimizer.bin", "step-2/weights.bin"])
      // With no other blobs it is putIfAbsent: one commit of the commit key alone.
      assert.isTrue(yield* store.commitIfAbsent([], "step-3/manifest.json", text("{}"), "manifest only"))
      assert.deepStrictEqual(server.commits(repo)[2]!.paths, ["ckpt/step-3/manifest.json"])
    }))

  it.effect("commitIfAbsent answers false and commits nothing when the commit key exists", () =>
    Effect.gen(function*() {
      const { server, store } = yield* storeOnServer({ prefix: "ckpt" })
      assert.isTrue(yield* store.commitIfAbsent([{ key: "step-1/state-a.bin", bytes: text("a") }], "step-1/manifest.json", text("first"), "first"))
      yield* store.put("step-2/manifest.json", text("put"))
      const before = server.commits(repo).length
      assert.isFalse(yield* store.commitIfAbsent([{ key: "step-1/state-b.bin", bytes: text("b") }], "step-1/manifest.json", text("second"), "second"))
      assert.isFalse(yield* store.commitIfAbsent([{ key: "step-2/state-b.bin", bytes: text("b") }], "step-2/manifest.json", text("second"), "second"))
      assert.isFalse(yield* store.putIfAbsent("step-1/manifest.json", text("third")))
      assert.strictEqual(server.commits(repo).length, before)
      assert.strictEqual(decode(yield* store.get("step-1/manifest.json")), "first")
      assert.isFalse(yield* store.exists("step-1/state-b.bin"))
      assert.isFalse(yield* store.exists("step-2/state-b.bin"))
    }))

  it.effect("commitIfAbsent refuses unsafe, reserved and repeated keys before any commit", () =>
    Effect.gen(function*() {
      const { server, store } = yield* storeOnServer({ prefix: "ckpt" })
      const refusals = [
        store.commitIfAbsent([{ key: "ok", bytes: text("1") }, { key: "../escape", bytes: text("2") }], "manifest.json", text("{}"), "bad blob"),
        store.commitIfAbsent([{ key: "ok", bytes: text("1") }], "a//manifest.json", text("{}"), "bad commit key"),
        store.commitIfAbsent([{ key: "ok", bytes: text("1") }], "dir/", text("{}"), "trailing slash"),
        store.commitIfAbsent([{ key: ".gitattributes", bytes: text("* -text") }], "manifest.json", text("{}"), "reserved"),
        store.putIfAbsent("../manifest.json", text("{}"))
      ]
      for (const refusal of refusals) assert.strictEqual((yield* Effect.flip(refusal))._tag, "UnsafeKeyError")
      const repeated = yield* Effect.flip(store.commitIfAbsent([{ key: "manifest.json", bytes: text("blob") }], "manifest.json", text("{}"), "twice"))
      assert.strictEqual(repeated._tag, "BlobStoreError")
      assert.include(repeated.message, "twice")
      assert.strictEqual(server.commits(repo).length, 1)
      assert.deepStrictEqual(yield* store.list(""), [])
    }))

  it.effect("commitIfAbsent commits nothing when the Hub refuses one file", () =>
    Effect.gen(function*() {
      const { server, store } = yield* storeOnServer()
      yield* store.put("a", text("a file"))
      // Git cannot hold `a/b` below the file `a`: the whole commit is refused.
      const refused = yield* Effect.flip(store.commitIfAbsent([{ key: "b", bytes: text("b") }, { key: "a/b", bytes: text("x") }], "m", text("{}"), "conflict"))
      assert.strictEqual(refused._tag, "BlobStoreError")
      if (refused._tag === "BlobStoreError") {
        assert.strictEqual(refused.operation, "commitIfAbsent")
        assert.strictEqual(refused.key, "m")
      }
      assert.include(refused.message, "HTTP 400")
      assert.deepStrictEqual(yield* store.list(""), ["a"])
      assert.strictEqual(server.commits(repo).length, 2)
    }))

  it.effect("commitIfAbsent: a commit between its head read and its commit is refused (412), and it checks again and commits", () =>
    Effect.gen(function*() {
      const { server, store } = yield* storeOnServer({ prefix: "ckpt" })
      const seen = yield* beforeFirstCommit(() => server.seed(repo, "model", { "ckpt/other/file.txt": "theirs" }))
      const weights = Uint8Array.from({ length: 4096 }, (_, i) => i % 7)
      assert.isTrue(yield* store.commitIfAbsent([{ key: "step-1/state.bin", bytes: weights }], "step-1/manifest.json", text("ours"), "ours"))
      assert.strictEqual(seen.commitRequests, 2)
      assert.deepStrictEqual(server.commits(repo).map(({ title, paths }) => ({ title, paths })), [
        { title: "initial commit", paths: [".gitattributes"] },
        { title: "seed", paths: ["ckpt/other/file.txt"] },
        { title: "ours", paths: ["ckpt/step-1/state.bin", "ckpt/step-1/manifest.json"] }
      ])
      assert.deepStrictEqual(yield* store.get("step-1/state.bin"), weights)
      assert.deepStrictEqual(yield* store.list(""), ["other/file.txt", "step-1/manifest.json", "step-1/state.bin"])
    }))

  it.effect("commitIfAbsent: a writer that commits the commit key in between wins, and none of our blobs land", () =>
    Effect.gen(function*() {
      const { server, store } = yield* storeOnServer({ prefix: "ckpt" })
      const seen = yield* beforeFirstCommit(() => server.seed(repo, "model", { "ckpt/step-1/manifest.json": "theirs" }))
      assert.isFalse(yield* store.commitIfAbsent([{ key: "step-1/state-ours.bin", bytes: text("w") }], "step-1/manifest.json", text("ours"), "ours"))
      assert.strictEqual(seen.commitRequests, 1)
      assert.deepStrictEqual(server.commits(repo).map(({ title }) => title), ["initial commit", "seed"])
      assert.strictEqual(decode(yield* store.get("step-1/manifest.json")), "theirs")
      assert.isFalse(yield* store.exists("step-1/state-ours.bin"))
    }))

  it.effect("putIfAbsent commits against the head it checked, so a writer that lost the race retries and sees the blob", () =>
    Effect.gen(function*() {
      const { server, store } = yield* storeOnServer()
      const results = yield* Effect.forEach(["x", "y", "z"], (key) =>
        Effect.all([store.putIfAbsent(`${key}/manifest.json`, text("first")), store.putIfAbsent(`${key}/manifest.json`, text("second"))], {
          concurrency: "unbounded"
        }), { concurrency: "unbounded" })
      assert.deepStrictEqual(results.map(([a, b]) => Number(a) + Number(b)), [1, 1, 1])
      // Exactly one commit per key: losers never overwrote.
      assert.strictEqual(server.commits(repo).length, 4)
    }))

  it.effect("keys with URL-special characters round-trip", () =>
    Effect.gen(function*() {
      const { store } = yield* storeOnServer()
      const keys = ["a b/c#d?e%20f.txt", "ünïcode/ключ.json", "plus+and&amp.bin"]
      for (const key of keys) yield* store.put(key, text(key))
      for (const key of keys) assert.strictEqual(decode(yield* store.get(key)), key)
      assert.isTrue(yield* store.exists("a b/c#d?e%20f.txt"))
      assert.deepStrictEqual(yield* store.list("a b/"), ["a b/c#d?e%20f.txt"])
      assert.deepStrictEqual(yield* store.list(""), [...keys].sort())
    }))

  it.effect("lists through the Hub's pagination", () =>
    Effect.gen(function*() {
      const { store } = yield* storeOnServer({ pageSize: 2 })
      const keys = Array.from({ length: 7 }, (_, i) => `runs/k${i}`)
      yield* store.commitIfAbsent(keys.slice(0, -1).map((key) => ({ key, bytes: text(key) })), keys[6]!, text("last"), "seven")
      assert.deepStrictEqual(yield* store.list("runs/"), keys)
    }))

  it.effect("refuses .gitattributes as a key and never lists the repo's own", () =>
    Effect.gen(function*() {
      const { store } = yield* storeOnServer()
      for (const key of [".gitattributes", "runs/.gitattributes"]) {
        const refused = yield* Effect.flip(store.put(key, text("*.bin -text")))
        assert.strictEqual(refused._tag, "UnsafeKeyError")
      }
      yield* store.put("k", text("v"))
      assert.deepStrictEqual(yield* store.list(""), ["k"])
    }))

  it.effect("a read-only store reads a public repo and reports a write as HTTP 401 naming the repo", () =>
    Effect.gen(function*() {
      const server = yield* hubServer()
      server.seed(repo, "model", { "ckpt/manifest.json": "{}" })
      const store = yield* makeHubBlobStore({ repo, hubUrl: server.url })
      assert.strictEqual(decode(yield* store.get("ckpt/manifest.json")), "{}")
      const failure = yield* Effect.flip(store.put("ckpt/x", text("x")))
      assert.strictEqual(failure._tag, "BlobStoreError")
      if (failure._tag === "BlobStoreError") {
        assert.strictEqual(failure.operation, "put")
        assert.strictEqual(failure.key, "ckpt/x")
        assert.include(failure.message, `hf://${repo}`)
        assert.include(failure.message, "HTTP 401")
        assert.include(failure.message, "HF_TOKEN")
      }
      // The conditional writes read the head and check the key, then fail at the commit.
      const conditional = yield* Effect.flip(store.putIfAbsent("ckpt/y", text("y")))
      assert.include(conditional.message, "HTTP 401")
      if (conditional._tag === "BlobStoreError") assert.strictEqual(conditional.operation, "putIfAbsent")
      const checkpoint = yield* Effect.flip(store.commitIfAbsent([{ key: "ckpt/z.bin", bytes: text("z") }], "ckpt/z.json", text("{}"), "z"))
      assert.include(checkpoint.message, "HTTP 401")
      if (checkpoint._tag === "BlobStoreError") assert.deepStrictEqual([checkpoint.operation, checkpoint.key], ["commitIfAbsent", "ckpt/z.json"])
    }))

  it.effect("never puts the token in an error: bad token, unreachable Hub, malformed token", () =>
    Effect.gen(function*() {
      const server = yield* hubServer()
      server.seed(repo, "model", {})
      const badToken = `hf_wrong${"x".repeat(24)}`
      const refused = yield* Effect.flip(makeHubBlobStore({ repo, hubUrl: server.url, token: Redacted.make(badToken) }))
      assert.include(refused.message, `hf://${repo}`)
      assert.include(refused.message, "HTTP 401")
      assert.notInclude(refused.message, badToken)
      assert.notInclude(JSON.stringify(refused), badToken)
      assert.notInclude(String(refused), badToken)

      // Port 1 on the loopback interface refuses connections.
      const unreachable = yield* Effect.flip(makeHubBlobStore({ repo, hubUrl: "http://127.0.0.1:1", token: Redacted.make(server.token) }))
      assert.include(unreachable.message, "cannot reach http://127.0.0.1:1")
      assert.include(unreachable.message, `hf://${repo}`)
      assert.notInclude(unreachable.message, server.token)

      const malformed = "not-a-hub-token-secret"
      const rejected = yield* Effect.flip(makeHubBlobStore({ repo, hubUrl: server.url, token: Redacted.make(malformed) }))
      assert.include(rejected.message, "starts with 'hf_'")
      assert.notInclude(rejected.message, malformed)
    }))

  it.effect("takes the token and the Hub URL from HF_TOKEN and HF_ENDPOINT", () =>
    Effect.gen(function*() {
      const server = yield* hubServer()
      const environment = ConfigProvider.layer(ConfigProvider.fromEnv({ env: { HF_TOKEN: server.token, HF_ENDPOINT: `${server.url}/` } }))
      yield* BlobStore.use((store) => store.put("k", text("v"))).pipe(Effect.provide(hubBlobStoreLayer({ repo })), Effect.provide(environment))
      assert.deepStrictEqual(server.commits(repo).map((commit) => commit.paths), [[".gitattributes"], ["k"]])
    }))

  it.effect("refuses a malformed repo name or prefix", () =>
    Effect.gen(function*() {
      const server = yield* hubServer()
      const token = Redacted.make(server.token)
      const badRepo = yield* Effect.flip(makeHubBlobStore({ repo: "no-namespace", hubUrl: server.url, token }))
      assert.include(badRepo.message, "namespace/name")
      const badPrefix = yield* Effect.flip(makeHubBlobStore({ repo, prefix: "../up", hubUrl: server.url, token }))
      assert.include(badPrefix.message, "'..'")
      assert.deepStrictEqual(server.commits(repo), [])
    }))
})
