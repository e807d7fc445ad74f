import * as fs from "node:fs/promises"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Layer, type Schema, Stream } from "effect"
import { messageOf } from "../../ports/thrown-message.js"
import { DatasetError, DatasetSource, uriScheme } from "../../ports/index.js"
import { jsonlLines } from "./jsonl-lines.js"
import { decodeJsonlLines } from "./jsonl-rows.js"

/** The local path a dataset URI names: a `file://` URI or a plain path (relative to the working directory). */
const localPath = (uri: string): Effect.Effect<string, DatasetError> => {
  const scheme = uriScheme(uri)
  if (scheme === undefined) return Effect.succeed(path.resolve(uri))
  if (scheme !== "file") {
    return Effect.fail(new DatasetError({ uri, message: `this source reads local files; ${scheme}:// datasets go through their own source (datasetSourceByScheme routes them)` }))
  }
  return Effect.try({
    try: () => fileURLToPath(uri),
    catch: (error) => new DatasetError({ uri, message: `not a usable file URI: ${messageOf(error)}`, cause: error })
  })
}

/** How a JSONL source reads lines. */
export interface JsonlSourceOptions {
  /** The longest line read, in bytes (default 64 MiB, `defaultMaxLineBytes`); a longer one is a row error. */
  readonly maxLineBytes?: number
}

/**
 * Reads JSONL datasets from local files (plain paths and `file://` URIs) as a
 * {@link DatasetSource}. The file is streamed and split into lines by {@link jsonlLines},
 * never read whole (a line over `maxLineBytes` is refused with its line number), and decoded
 * as {@link decodeJsonlLines} describes (line numbers, blank lines, `fromLine`, row errors).
 * A file that cannot be opened or read, or a URI of another scheme, is a {@link DatasetError}.
 */
export const makeJsonlFileSource = (options: JsonlSourceOptions = {}): DatasetSource["Service"] =>
  DatasetSource.of({
    rows: <A, I>(uri: string, schema: Schema.Codec<A, I>, rowOptions?: { readonly fromLine?: number }) =>
      Stream.unwrap(Effect.gen(function*() {
        const file = yield* localPath(uri)
        const handle = yield* Effect.acquireRelease(
          Effect.tryPromise({
            try: () => fs.open(file, "r"),
            catch: (error) => new DatasetError({ uri, message: `cannot open dataset file ${file}: ${messageOf(error)}`, cause: error })
          }),
          // The stream may stop early (take, an error): close the file ourselves, once.
          (handle) => Effect.promise(() => handle.close().catch(() => undefined))
        )
        const bytes = Stream.fromAsyncIterable(
          handle.createReadStream({ autoClose: false }) as AsyncIterable<Uint8Array>,
          (error) => new DatasetError({ uri, message: `cannot read dataset file ${file}: ${messageOf(error)}`, cause: error })
        )
        return decodeJsonlLines(uri, schema, jsonlLines(uri, bytes, options.maxLineBytes), rowOptions?.fromLine)
      })).pipe(Stream.withSpan("JsonlFileSource.rows", { attributes: { uri } }))
  })

/** {@link makeJsonlFileSource} with the default line limit. */
export const jsonlFileSource: DatasetSource["Service"] = makeJsonlFileSource()

/** A layer with {@link jsonlFileSource}. */
export const jsonlFileSourceLayer: Layer.Layer<DatasetSource> = Layer.succeed(DatasetSource, jsonlFileSource)
