import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { makeHubBlobStore } from "../../../src/adapters/hub/hub-blob-store.js"
import { hubPublisherLayer, makeHubPublisher } from "../../../src/adapters/hub/hub-publisher.js"
import { Hub, type HubFile } from "../../../src/ports/index.js"
import { hubServer } from "../../support/hub-server.js"

const text = (value: string): Uint8Array => new TextEncoder().encode(value)
const decode = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)

const repo = "sous-test/tiny-chat"

// What the publish stage sends: weights, tokenizer, recipe and model card.
const release: ReadonlyArray<HubFile> = [
  { path: "weights.bin", bytes: Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256) },
  { path: "tokenizer.json", bytes: text("{\"id\":\"bytes\"}\n") },
  { path: "recipe.json", bytes: text("{\"model\":\"tiny\"}\n") },
  { path: "README.md", bytes: text("# tiny-chat\n") }
]

describe("HubPublisher", () => {
  it.effect("creates a missing repo, private, and commits every file in one commit", () =>
    Effect.gen(function*() {
      const server = yield* hubServer()
      const hub = makeHubPublisher({ hubUrl: server.url, token: Redacted.make(server.token) })
      const published = yield* hub.publish(`hf://${repo}`, release, "sous: publish tiny-chat")
      const commits = server.commits(repo)
      assert.deepStrictEqual(commits.map((commit) => commit.title), ["initial commit", "sous: publish tiny-chat"])
      assert.deepStrictEqual(commits[1]!.paths, ["weights.bin", "tokenizer.json", "recipe.json", "README.md"])
      assert.deepStrictEqual(published, { repo: `hf://${repo}`, commit: commits[1]!.oid })
      assert.isTrue(server.isPrivate(repo))

      // Read back through the blob store: the bytes are the ones published.
      const store = yield* makeHubBlobStore({ repo, hubUrl: server.url })
      for (const file of release) assert.deepStrictEqual(yield* store.get(file.path), file.bytes)
    }))

  it.effect("publishes to an existing repo as one more commit, and can create public repos", () =>
    Effect.gen(function*() {
      const server = yield* hubServer()
      const hub = makeHubPublisher({ hubUrl: server.url, token: Redacted.make(server.token), private: false })
      yield* hub.publish(`hf://${repo}`, release, "first")
      yield* hub.publish(`hf://${repo}`, [{ path: "README.md", bytes: text("# v2\n") }], "second")
      assert.strictEqual(server.commits(repo).length, 3)
      assert.isFalse(server.isPrivate(repo))
      const store = yield* makeHubBlobStore({ repo, hubUrl: server.url })
      assert.strictEqual(decode(yield* store.get("README.md")), "# v2\n")
      assert.deepStrictEqual(yield* store.list(""), ["README.md", "recipe.json", "tokenizer.json", "weights.bin"])
    }))

  it.effect("refuses bad targets and paths before touching the Hub", () =>
    Effect.gen(function*() {
      const server = yield* hubServer()
      const hub = makeHubPublisher({ hubUrl: server.url, token: Redacted.make(server.token) })
      const cases: ReadonlyArray<readonly [string, ReadonlyArray<HubFile>, string]> = [
        ["s3://bucket/model", release, "not an hf:// URI"],
        [`hf://${repo}/sub/folder`, release, "not to a folder"],
        [`hf://${repo}`, [], "nothing to publish"],
        [`hf://${repo}`, [{ path: "../escape", bytes: text("x") }], "cannot publish \"../escape\""]
      ]
      for (const [target, files, expected] of cases) {
        const failure = yield* Effect.flip(hub.publish(target, files, "bad"))
        assert.strictEqual(failure._tag, "HubError")
        assert.strictEqual(failure.repo, target)
        assert.include(failure.message, expected)
      }
      assert.deepStrictEqual(server.commits(repo), [])
    }))

  it.effect("without a valid token: HTTP 401 naming the repo, never the token", () =>
    Effect.gen(function*() {
      const server = yield* hubServer()
      const token = `hf_publishme${"z".repeat(24)}`
      const failure = yield* Effect.flip(makeHubPublisher({ hubUrl: server.url, token: Redacted.make(token) }).publish(`hf://${repo}`, release, "x"))
      assert.include(failure.message, "HTTP 401")
      assert.include(failure.message, `hf://${repo}`)
      assert.notInclude(failure.message, token)
      const anonymous = yield* Effect.flip(makeHubPublisher({ hubUrl: server.url }).publish(`hf://${repo}`, release, "x"))
      assert.include(anonymous.message, "no token was given")
    }))

  it.effect("the layer provides the Hub port", () =>
    Effect.gen(function*() {
      const server = yield* hubServer()
      const published = yield* Hub.use((hub) => hub.publish(`hf://datasets/${repo}`, release.slice(3), "card only")).pipe(
        Effect.provide(hubPublisherLayer({ hubUrl: server.url, token: Redacted.make(server.token) }))
      )
      assert.strictEqual(published.repo, `hf://datasets/${repo}`)
      assert.strictEqual(server.commits(repo, "dataset").length, 2)
    }))
})
