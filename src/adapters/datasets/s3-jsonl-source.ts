import { Readable } from "node:stream"
import { GetObjectCommand, type GetObjectCommandOutput } from "@aws-sdk/client-s3"
import { Effect, Layer, Result, type Schema, Stream } from "effect"
import { DatasetError, DatasetSource } from "../../ports/index.js"
import { openS3Client, type S3Connection } from "../blob/s3-client.js"
import { parseS3Uri, type S3Location } from "../blob/s3-uri.js"
import type { JsonlSourceOptions } from "./jsonl-file-source.js"
import { jsonlLines } from "./jsonl-lines.js"
import { decodeJsonlLines } from "./jsonl-rows.js"

// The object a dataset URI names: a bucket and a key that is not a folder.
const objectLocation = (uri: string): Effect.Effect<S3Location, DatasetError> => {
  const parsed = parseS3Uri(uri)
  if (Result.isFailure(parsed)) return Effect.fail(new DatasetError({ uri, message: parsed.failure }))
  const { key } = parsed.success
  if (key === "" || key.endsWith("/")) {
    return Effect.fail(new DatasetError({ uri, message: `${uri} names a folder, not a JSONL object (expected s3://bucket/path/data.jsonl)` }))
  }
  return Effect.succeed(parsed.success)
}

// Stops the download: a stream that ends early (take, a bad row) must not leave the
// connection open until the object has been read to its end.
const closeBody = (response: GetObjectCommandOutput): Effect.Effect<void> =>
  Effect.sync(() => {
    if (response.Body instanceof Readable) response.Body.destroy()
  })

/**
 * A {@link DatasetSource} for JSONL objects in S3 (`s3://bucket/path/data.jsonl`). The
 * object is streamed and split into lines as it arrives (`jsonlLines`: a line over
 * `maxLineBytes` is refused with its line number), never held whole, and decoded by
 * the same rules as a local JSONL file (`decodeJsonlLines`): rows are numbered by line,
 * errors name the `s3://` URI and line, and `fromLine` skips earlier lines unparsed (they
 * are still downloaded: S3 can seek by byte, not by line). An object that cannot be opened
 * or read is a {@link DatasetError} with S3's error code and HTTP status, never the
 * credentials. A client built from `connection` is closed when the scope closes.
 */
export const makeS3JsonlSource = Effect.fn("S3JsonlSource.make")(function*(connection: S3Connection, options: JsonlSourceOptions = {}) {
  const { cause, client, describe } = yield* openS3Client(connection)
  return DatasetSource.of({
    rows: <A, I>(uri: string, schema: Schema.Codec<A, I>, rowOptions?: { readonly fromLine?: number }) =>
      Stream.unwrap(Effect.gen(function*() {
        const { bucket, key } = yield* objectLocation(uri)
        const response = yield* Effect.acquireRelease(
          Effect.tryPromise({
            try: (abortSignal) => client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal }),
            catch: (error) => new DatasetError({ uri, message: `cannot open dataset ${uri}: ${describe(error)}`, cause: cause(error) })
          }),
          closeBody
        )
        // In Node the SDK answers with an http.IncomingMessage; anything else is a setup we do not know.
        if (!(response.Body instanceof Readable)) {
          return yield* new DatasetError({ uri, message: `cannot read dataset ${uri}: the S3 client did not return a Node.js stream` })
        }
        const bytes = Stream.fromAsyncIterable(
          response.Body as AsyncIterable<Uint8Array>,
          (error) => new DatasetError({ uri, message: `cannot read dataset ${uri}: ${describe(error)}`, cause: cause(error) })
        )
        return decodeJsonlLines(uri, schema, jsonlLines(uri, bytes, options.maxLineBytes), rowOptions?.fromLine)
      })).pipe(Stream.withSpan("S3JsonlSource.rows", { attributes: { uri } }))
  })
})

/** A layer with an S3 JSONL {@link DatasetSource}; see {@link makeS3JsonlSource}. */
export const s3JsonlSourceLayer = (connection: S3Connection): Layer.Layer<DatasetSource> =>
  Layer.effect(DatasetSource, makeS3JsonlSource(connection))
