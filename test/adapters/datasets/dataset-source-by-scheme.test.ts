import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema, Stream } from "effect"
import { datasetSourceByScheme } from "../../../src/adapters/datasets/dataset-source-by-scheme.js"
import { DatasetSource } from "../../../src/ports/index.js"

// A source that answers one row holding its own name and the URI it was asked for.
const namedSource = (name: string): DatasetSource["Service"] =>
  DatasetSource.of({
    rows: (uri, schema, options) =>
      Stream.fromEffect(
        Schema.decodeUnknownEffect(schema)({ source: name, uri, fromLine: options?.fromLine ?? 1 }).pipe(Effect.orDie)
      ).pipe(Stream.map((value) => ({ line: 1, value })))
  })

const Seen = Schema.Struct({ source: Schema.String, uri: Schema.String, fromLine: Schema.Number })

const sources = datasetSourceByScheme({ file: namedSource("file"), s3: namedSource("s3") })

const seen = (uri: string, options?: { readonly fromLine?: number }) =>
  Stream.runCollect(sources.rows(uri, Seen, options)).pipe(Effect.map((rows) => rows.map((row) => row.value)))

describe("datasetSourceByScheme", () => {
  it.effect("hands each URI to the source of its scheme, plain paths to file, with the options", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* seen("s3://bucket/data.jsonl", { fromLine: 7 }), [{ source: "s3", uri: "s3://bucket/data.jsonl", fromLine: 7 }])
      assert.deepStrictEqual(yield* seen("S3://bucket/data.jsonl"), [{ source: "s3", uri: "S3://bucket/data.jsonl", fromLine: 1 }])
      assert.deepStrictEqual(yield* seen("file:///data.jsonl"), [{ source: "file", uri: "file:///data.jsonl", fromLine: 1 }])
      assert.deepStrictEqual(yield* seen("data/train.jsonl"), [{ source: "file", uri: "data/train.jsonl", fromLine: 1 }])
    }))

  it.effect("a scheme with no source is a DatasetError listing the configured ones", () =>
    Effect.gen(function*() {
      const failure = yield* Effect.flip(seen("hf://datasets/org/name/train.jsonl"))
      assert.strictEqual(failure._tag, "DatasetError")
      assert.strictEqual(failure.uri, "hf://datasets/org/name/train.jsonl")
      assert.include(failure.message, "no dataset source reads hf:// URIs here (configured: file://, s3://)")
      // An inherited property name is not a scheme with a source.
      assert.strictEqual((yield* Effect.flip(seen("constructor://x")))._tag, "DatasetError")
    }))
})
