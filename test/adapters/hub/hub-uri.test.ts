import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { formatHubUri, parseHubUri } from "../../../src/adapters/hub/hub-uri.js"

describe("parseHubUri", () => {
  it.effect("reads model and dataset repos with an optional path, and formats them back", () =>
    Effect.gen(function*() {
      const cases = [
        ["hf://user/repo", { repo: "user/repo", repoType: "model", path: "" }, "hf://user/repo"],
        ["hf://user/repo/", { repo: "user/repo", repoType: "model", path: "" }, "hf://user/repo"],
        ["hf://user/repo/runs/a", { repo: "user/repo", repoType: "model", path: "runs/a" }, "hf://user/repo/runs/a"],
        ["HF://Org-1/my_model.v2", { repo: "Org-1/my_model.v2", repoType: "model", path: "" }, "hf://Org-1/my_model.v2"],
        ["hf://datasets/org/chat/data/train.jsonl", { repo: "org/chat", repoType: "dataset", path: "data/train.jsonl" }, "hf://datasets/org/chat/data/train.jsonl"]
      ] as const
      for (const [uri, location, formatted] of cases) {
        const parsed = yield* parseHubUri(uri)
        assert.deepStrictEqual(parsed, location)
        assert.strictEqual(formatHubUri(parsed), formatted)
      }
    }))

  it.effect("says what is wrong with a malformed URI", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, string]> = [
        ["s3://bucket/key", "not an hf:// URI"],
        ["user/repo", "not an hf:// URI"],
        ["hf://user", "namespace/name"],
        ["hf://datasets/org", "namespace/name"],
        ["hf://user/repo@v1/file", "revision"],
        ["hf://user/-bad", "\"-bad\" is not a valid"],
        ["hf://user/a--b", "\"a--b\" is not a valid"],
        ["hf://user/repo/../escape", "'..'"],
        ["hf://user/repo/a//b", "empty segment"],
        ["hf://spaces/user/app", "Spaces are not supported"],
        ["hf://dataset/org/chat", "(plural)"],
        ["hf://models/user/repo", "no type segment"]
      ]
      for (const [uri, expected] of cases) {
        const failure = yield* Effect.flip(parseHubUri(uri))
        assert.strictEqual(failure.uri, uri)
        assert.include(failure.message, expected)
        assert.include(failure.message, "hf://datasets/user/repo")
      }
    }))
})
