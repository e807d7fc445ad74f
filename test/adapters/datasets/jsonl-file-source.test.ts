import * as fs from "node:fs/promises"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema, type Scope, Stream } from "effect"
import { jsonlFileSource, jsonlFileSourceLayer, makeJsonlFileSource } from "../../../src/adapters/datasets/jsonl-file-source.js"
import { type DatasetRow, DatasetSource } from "../../../src/ports/index.js"
import { tempDirectory } from "../../support/temp-directory.js"

const Message = Schema.Struct({
  role: Schema.Literals(["system", "user", "assistant"]),
  content: Schema.String
})
const Conversation = Schema.Struct({ messages: Schema.Array(Message) })

const row = (user: string, assistant: string): string =>
  JSON.stringify({ messages: [{ role: "user", content: user }, { role: "assistant", content: assistant }] })

// Writes `text` to a fresh file in a temp directory and answers its path.
const datasetFile = (text: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.gen(function*() {
    const file = path.join(yield* tempDirectory("jsonl-source"), "data.jsonl")
    yield* Effect.promise(() => fs.writeFile(file, text))
    return file
  })

const collect = <A, I>(uri: string, schema: Schema.Codec<A, I>, options?: { readonly fromLine?: number }) =>
  Stream.runCollect(jsonlFileSource.rows(uri, schema, options))

describe("jsonlFileSource", () => {
  it.effect("streams decoded rows with their line numbers, from a path or a file:// URI", () =>
    Effect.gen(function*() {
      const file = yield* datasetFile([row("1+1?", "2"), row("2+2?", "4"), row("3+3?", "6")].join("\n") + "\n")
      const expected: ReadonlyArray<DatasetRow<typeof Conversation.Type>> = [
        { line: 1, value: { messages: [{ role: "user", content: "1+1?" }, { role: "assistant", content: "2" }] } },
        { line: 2, value: { messages: [{ role: "user", content: "2+2?" }, { role: "assistant", content: "4" }] } },
        { line: 3, value: { messages: [{ role: "user", content: "3+3?" }, { role: "assistant", content: "6" }] } }
      ]
      assert.deepStrictEqual(yield* collect(file, Conversation), expected)
      assert.deepStrictEqual(yield* collect(pathToFileURL(file).href, Conversation), expected)
    }))

  it.effect("skips blank and whitespace-only lines but keeps counting them; reads CRLF files", () =>
    Effect.gen(function*() {
      const file = yield* datasetFile(`\n${row("a", "b")}\r\n   \r\n\t\n${row("c", "d")}\r\n\n`)
      const rows = yield* collect(file, Conversation)
      assert.deepStrictEqual(rows.map((r) => r.line), [2, 5])
      assert.strictEqual(rows[1]!.value.messages[0]!.content, "c")
    }))

  it.effect("ignores a UTF-8 byte order mark", () =>
    Effect.gen(function*() {
      const file = yield* datasetFile(`\uFEFF${row("a", "b")}\n`)
      assert.deepStrictEqual((yield* collect(file, Conversation)).map((r) => r.line), [1])
    }))

  it.effect("reports a line that is not JSON with its uri and line number", () =>
    Effect.gen(function*() {
      const file = yield* datasetFile(`${row("a", "b")}\n\n{"messages": [oops\n${row("c", "d")}\n`)
      const failure = yield* Effect.flip(collect(file, Conversation))
      assert.strictEqual(failure._tag, "DatasetRowError")
      if (failure._tag === "DatasetRowError") {
        assert.strictEqual(failure.uri, file)
        assert.strictEqual(failure.line, 3)
        assert.include(failure.message, "not valid JSON")
      }
    }))

  it.effect("reports a schema failure with the line and every failing field path", () =>
    Effect.gen(function*() {
      const bad = JSON.stringify({ messages: [{ role: "user", content: 5 }, { role: "robot", content: "x" }] })
      const file = yield* datasetFile(`${row("a", "b")}\n${bad}\n`)
      const failure = yield* Effect.flip(collect(file, Conversation))
      assert.strictEqual(failure._tag, "DatasetRowError")
      if (failure._tag === "DatasetRowError") {
        assert.strictEqual(failure.line, 2)
        assert.include(failure.message, "messages[0].content: expected string, got 5")
        assert.include(failure.message, 'messages[1].role: expected "system" | "user" | "assistant", got "robot"')
      }
    }))

  it.effect("fromLine skips earlier lines without parsing them", () =>
    Effect.gen(function*() {
      const file = yield* datasetFile(`not json at all\n${row("a", "b")}\n\n${row("c", "d")}\n${row("e", "f")}\n`)
      assert.deepStrictEqual((yield* collect(file, Conversation, { fromLine: 2 })).map((r) => r.line), [2, 4, 5])
      assert.deepStrictEqual((yield* collect(file, Conversation, { fromLine: 5 })).map((r) => r.line), [5])
      assert.deepStrictEqual(yield* collect(file, Conversation, { fromLine: 6 }), [])
    }))

  it.effect("decodes lazily: taking the first rows never reaches a bad row further down", () =>
    Effect.gen(function*() {
      const file = yield* datasetFile(`${row("a", "b")}\n${row("c", "d")}\n{broken\n`)
      const firstTwo = yield* Stream.runCollect(jsonlFileSource.rows(file, Conversation).pipe(Stream.take(2)))
      assert.deepStrictEqual(firstTwo.map((r) => r.line), [1, 2])
    }))

  it.effect("a missing file is a DatasetError naming the path", () =>
    Effect.gen(function*() {
      const missing = path.join(yield* tempDirectory("jsonl-source"), "nope.jsonl")
      const failure = yield* Effect.flip(collect(missing, Conversation))
      assert.strictEqual(failure._tag, "DatasetError")
      assert.strictEqual(failure.uri, missing)
      assert.include(failure.message, missing)
    }))

  it.effect("a directory is a DatasetError", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory("jsonl-source")
      const failure = yield* Effect.flip(collect(directory, Conversation))
      assert.strictEqual(failure._tag, "DatasetError")
      assert.include(failure.message, directory)
    }))

  it.effect("refuses other URI schemes, which have sources of their own", () =>
    Effect.gen(function*() {
      for (const uri of ["s3://bucket/data.jsonl", "hf://datasets/org/name/train.jsonl"]) {
        const failure = yield* Effect.flip(collect(uri, Conversation))
        assert.strictEqual(failure._tag, "DatasetError")
        assert.strictEqual(failure.uri, uri)
        assert.include(failure.message, "this source reads local files")
      }
    }))

  it.effect("refuses a line over its limit, naming the file and line", () =>
    Effect.gen(function*() {
      const file = yield* datasetFile(`{"n":1}\n{"n":"${"x".repeat(200)}"}\n`)
      const error = yield* Effect.flip(Stream.runCollect(makeJsonlFileSource({ maxLineBytes: 128 }).rows(file, Schema.Struct({ n: Schema.Unknown }))))
      assert.strictEqual(error._tag, "DatasetRowError")
      if (error._tag === "DatasetRowError") {
        assert.strictEqual(error.uri, file)
        assert.strictEqual(error.line, 2)
        assert.strictEqual(error.message, "the line is longer than 128 bytes, the most a dataset line may hold")
      }
    }))

  it.effect("the layer provides the source", () =>
    Effect.gen(function*() {
      const file = yield* datasetFile(`{"n":1}\n{"n":2}\n`)
      const source = yield* DatasetSource
      const rows = yield* Stream.runCollect(source.rows(file, Schema.Struct({ n: Schema.Int })))
      assert.deepStrictEqual(rows, [{ line: 1, value: { n: 1 } }, { line: 2, value: { n: 2 } }])
    }).pipe(Effect.provide(jsonlFileSourceLayer)))
})
