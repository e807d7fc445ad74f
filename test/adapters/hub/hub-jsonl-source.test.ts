import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted, Schema, Stream } from "effect"
import { hubJsonlSourceLayer, makeHubJsonlSource } from "../../../src/adapters/hub/hub-jsonl-source.js"
import { DatasetSource } from "../../../src/ports/index.js"
import { hubServer } from "../../support/hub-server.js"

const Row = Schema.Struct({ prompt: Schema.String, answer: Schema.Int })

const row = (prompt: string, answer: number): string => JSON.stringify({ prompt, answer })

const dataset = "sous-test/arithmetic"
const uri = `hf://datasets/${dataset}/data/train.jsonl`

// A stand-in Hub holding `text` as the dataset's train file, and a source reading from it.
const sourceWith = (text: string) =>
  Effect.gen(function*() {
    const server = yield* hubServer()
    server.seed(dataset, "dataset", { "data/train.jsonl": text })
    return { server, source: makeHubJsonlSource({ hubUrl: server.url }) }
  })

describe("HubJsonlSource", () => {
  it.effect("streams decoded rows with their line numbers; skips blank lines, reads CRLF, ignores a BOM", () =>
    Effect.gen(function*() {
      const { source } = yield* sourceWith(`\uFEFF${row("1+1", 2)}\r\n\r\n${row("2+2", 4)}\n   \n${row("3+3", 6)}`)
      const rows = yield* Stream.runCollect(source.rows(uri, Row))
      assert.deepStrictEqual(rows, [
        { line: 1, value: { prompt: "1+1", answer: 2 } },
        { line: 3, value: { prompt: "2+2", answer: 4 } },
        { line: 5, value: { prompt: "3+3", answer: 6 } }
      ])
    }))

  it.effect("fromLine skips earlier rows without parsing them", () =>
    Effect.gen(function*() {
      const { source } = yield* sourceWith(`not json\n${row("a", 1)}\n${row("b", 2)}\n`)
      const rows = yield* Stream.runCollect(source.rows(uri, Row, { fromLine: 3 }))
      assert.deepStrictEqual(rows.map((r) => r.line), [3])
    }))

  it.effect("a bad row is a DatasetRowError naming the hf:// URI and line", () =>
    Effect.gen(function*() {
      const { source } = yield* sourceWith(`${row("a", 1)}\n{"prompt": "b", "answer": "two"}\n`)
      const failure = yield* Effect.flip(Stream.runCollect(source.rows(uri, Row)))
      assert.strictEqual(failure._tag, "DatasetRowError")
      if (failure._tag === "DatasetRowError") {
        assert.strictEqual(failure.uri, uri)
        assert.strictEqual(failure.line, 2)
        assert.include(failure.message, "answer")
      }
    }))

  it.live("streams the download: the first rows arrive while the rest of the file is still on its way", () =>
    Effect.gen(function*() {
      const lines = Array.from({ length: 5000 }, (_, i) => row(`${i}+${i}`, 2 * i))
      const { server, source } = yield* sourceWith(`${lines.join("\n")}\n`)
      // The stand-in sends half the file and then waits: a reader that buffered the whole
      // body would never produce a row.
      yield* Effect.acquireRelease(Effect.sync(() => server.holdDownloads()), (release) => Effect.sync(release))
      const firstRows = yield* Stream.runCollect(source.rows(uri, Row).pipe(Stream.take(3))).pipe(Effect.timeout("5 seconds"))
      assert.deepStrictEqual(firstRows.map((r) => r.value.answer), [0, 2, 4])
    }))

  it.effect("reads a file of a model repo, and an empty file as no rows", () =>
    Effect.gen(function*() {
      const server = yield* hubServer()
      server.seed("sous-test/model", "model", { "eval.jsonl": `${row("x", 1)}\n`, "empty.jsonl": "" })
      const source = makeHubJsonlSource({ hubUrl: server.url })
      assert.strictEqual((yield* Stream.runCollect(source.rows("hf://sous-test/model/eval.jsonl", Row))).length, 1)
      assert.deepStrictEqual(yield* Stream.runCollect(source.rows("hf://sous-test/model/empty.jsonl", Row)), [])
    }))

  it.effect("a missing file, a missing repo, a repo URI or another scheme is a DatasetError naming the URI", () =>
    Effect.gen(function*() {
      const { source } = yield* sourceWith("")
      const cases: ReadonlyArray<readonly [string, string]> = [
        [`hf://datasets/${dataset}/data/missing.jsonl`, "no file data/missing.jsonl"],
        ["hf://datasets/sous-test/nothing/train.jsonl", "HTTP 404"],
        [`hf://datasets/${dataset}`, "names a repo, not a file"],
        ["s3://bucket/train.jsonl", "not an hf:// URI"]
      ]
      for (const [location, expected] of cases) {
        const failure = yield* Effect.flip(Stream.runCollect(source.rows(location, Row)))
        assert.strictEqual(failure._tag, "DatasetError")
        assert.strictEqual(failure.uri, location)
        assert.include(failure.message, expected)
      }
    }))

  it.effect("a token the Hub refuses is HTTP 401, and the token is not in the error", () =>
    Effect.gen(function*() {
      const { server } = yield* sourceWith(`${row("a", 1)}\n`)
      const token = `hf_refused${"y".repeat(24)}`
      const failure = yield* Effect.flip(
        Stream.runCollect(makeHubJsonlSource({ hubUrl: server.url, token: Redacted.make(token) }).rows(uri, Row))
      )
      assert.include(failure.message, "HTTP 401")
      assert.include(failure.message, `hf://datasets/${dataset}`)
      assert.notInclude(failure.message, token)
    }))

  it.effect("the layer provides the source", () =>
    Effect.gen(function*() {
      const server = yield* hubServer()
      server.seed(dataset, "dataset", { "data/train.jsonl": `${row("a", 1)}\n` })
      const rows = yield* DatasetSource.use((source) => Stream.runCollect(source.rows(uri, Row))).pipe(
        Effect.provide(hubJsonlSourceLayer({ hubUrl: server.url, token: Redacted.make(server.token) }))
      )
      assert.deepStrictEqual(rows, [{ line: 1, value: { prompt: "a", answer: 1 } }])
    }))
})
