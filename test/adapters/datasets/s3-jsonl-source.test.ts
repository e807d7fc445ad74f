import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema, Stream } from "effect"
import { afterAll } from "vitest"
import { makeS3JsonlSource, s3JsonlSourceLayer } from "../../../src/adapters/datasets/s3-jsonl-source.js"
import { DatasetSource } from "../../../src/ports/index.js"
import { fakeS3Endpoint, startS3Server } from "../../support/s3-server.js"

const server = await startS3Server()
afterAll(() => server.stop())

const connection = { endpoint: server.endpoint, region: server.region, credentials: server.credentials }

const Numbered = Schema.Struct({ n: Schema.Int, text: Schema.String })

// Uploads `body` as `data.jsonl` in a fresh bucket and answers its s3:// URI.
const datasetObject = (body: string) =>
  Effect.gen(function*() {
    const bucket = yield* Effect.promise(() => server.createBucket())
    const client = yield* Effect.acquireRelease(
      Effect.sync(() => new S3Client({ ...connection, forcePathStyle: true })),
      (client) => Effect.sync(() => client.destroy())
    )
    yield* Effect.promise(() => client.send(new PutObjectCommand({ Bucket: bucket, Key: "sets/data.jsonl", Body: body })))
    return `s3://${bucket}/sets/data.jsonl`
  })

const row = (n: number): string => JSON.stringify({ n, text: `row ${n}` })

const collect = <A, I>(uri: string, schema: Schema.Codec<A, I>, options?: { readonly fromLine?: number }) =>
  Effect.flatMap(makeS3JsonlSource(connection), (source) => Stream.runCollect(source.rows(uri, schema, options)))

describe("S3JsonlSource", () => {
  it.effect("streams decoded rows numbered by line, across many network chunks", () =>
    Effect.gen(function*() {
      const count = 20_000
      const uri = yield* datasetObject(Array.from({ length: count }, (_, i) => row(i + 1)).join("\n") + "\n")
      const rows = yield* collect(uri, Numbered)
      assert.strictEqual(rows.length, count)
      assert.isTrue(rows.every((r, i) => r.line === i + 1 && r.value.n === i + 1 && r.value.text === `row ${i + 1}`))
    }))

  it.effect("reads lines as a local JSONL file does: BOM, CRLF and blank lines", () =>
    Effect.gen(function*() {
      const uri = yield* datasetObject(`\uFEFF${row(1)}\r\n\r\n   \n${row(4)}\r\n`)
      assert.deepStrictEqual((yield* collect(uri, Numbered)).map((r) => r.line), [1, 4])
    }))

  it.effect("a bad row is a DatasetRowError naming the s3:// URI and the line", () =>
    Effect.gen(function*() {
      const uri = yield* datasetObject(`${row(1)}\n{"n": 2, "text": 5}\n{oops\n`)
      const failure = yield* Effect.flip(collect(uri, Numbered))
      assert.strictEqual(failure._tag, "DatasetRowError")
      if (failure._tag === "DatasetRowError") {
        assert.strictEqual(failure.uri, uri)
        assert.strictEqual(failure.line, 2)
        assert.include(failure.message, "text: expected string, got 5")
      }
    }))

  it.effect("fromLine skips earlier lines without parsing them", () =>
    Effect.gen(function*() {
      const uri = yield* datasetObject(`not json\n${row(2)}\n\n${row(4)}\n`)
      assert.deepStrictEqual((yield* collect(uri, Numbered, { fromLine: 2 })).map((r) => r.line), [2, 4])
      assert.deepStrictEqual(yield* collect(uri, Numbered, { fromLine: 5 }), [])
    }))

  // Live clock, so the timeout below can fire.
  it.live("hands out rows before the object has finished downloading, and hangs up when the consumer stops", () =>
    Effect.gen(function*() {
      // An endpoint that sends two rows and then never finishes the body: a source that
      // read the whole object first would wait forever.
      let hungUp = false
      const endpoint = yield* fakeS3Endpoint((request, response) => {
        request.socket.once("close", () => {
          hungUp = true
        })
        response.writeHead(200, { "content-type": "application/x-ndjson" })
        response.write(`${row(1)}\n${row(2)}\n`)
      })
      const source = yield* makeS3JsonlSource({ endpoint, region: "us-east-1", credentials: server.credentials })
      const first = yield* Stream.runCollect(source.rows("s3://bucket-b/data.jsonl", Numbered).pipe(Stream.take(2))).pipe(
        Effect.timeout("10 seconds")
      )
      assert.deepStrictEqual(first.map((r) => r.value.n), [1, 2])
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 100)))
      assert.isTrue(hungUp)
    }))

  it.effect("a missing object or bucket is a DatasetError with S3's code and the URI", () =>
    Effect.gen(function*() {
      const uri = yield* datasetObject(`${row(1)}\n`)
      const missingKey = uri.replace("data.jsonl", "nope.jsonl")
      const noKey = yield* Effect.flip(collect(missingKey, Numbered))
      assert.strictEqual(noKey._tag, "DatasetError")
      assert.strictEqual(noKey.uri, missingKey)
      assert.include(noKey.message, `cannot open dataset ${missingKey}: NoSuchKey (HTTP 404`)
      const noBucket = yield* Effect.flip(collect("s3://no-such-bucket/data.jsonl", Numbered))
      assert.include(noBucket.message, "NoSuchBucket (HTTP 404")
    }))

  it.effect("a URI that names no object is a DatasetError before any request", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, string]> = [
        ["s3://bucket-b", "names a folder"],
        ["s3://bucket-b/sets/", "names a folder"],
        ["s3://Bad_Bucket/data.jsonl", "not a valid S3 bucket name"],
        ["/local/data.jsonl", "not an s3:// URI"]
      ]
      for (const [uri, problem] of cases) {
        const failure = yield* Effect.flip(collect(uri, Numbered))
        assert.strictEqual(failure._tag, "DatasetError")
        assert.strictEqual(failure.uri, uri)
        assert.include(failure.message, problem)
      }
    }))

  it.effect("the layer provides the source", () =>
    Effect.gen(function*() {
      const uri = yield* datasetObject(`{"n":1}\n{"n":2}\n`)
      const source = yield* DatasetSource
      const rows = yield* Stream.runCollect(source.rows(uri, Schema.Struct({ n: Schema.Int })))
      assert.deepStrictEqual(rows, [{ line: 1, value: { n: 1 } }, { line: 2, value: { n: 2 } }])
    }).pipe(Effect.provide(s3JsonlSourceLayer(connection))))
})
