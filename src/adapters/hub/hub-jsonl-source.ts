import { Effect, Layer, type Schema, Stream } from "effect"
import { DatasetError, DatasetSource } from "../../ports/index.js"
import { jsonlLines } from "../datasets/jsonl-lines.js"
import { decodeJsonlLines } from "../datasets/jsonl-rows.js"
import { type HubAccessOptions, makeHubClient } from "./hub-client.js"
import { downloadBlob } from "./hub-repo.js"
import type { HubRequestError } from "./hub-request-error.js"
import { parseHubUri } from "./hub-uri.js"

/**
 * Reads JSONL datasets from the Hugging Face Hub (`hf://datasets/user/repo/path/file.jsonl`,
 * or `hf://user/repo/…` for a file of a model repo) as a {@link DatasetSource}. The download
 * is read as a stream and split into lines as it arrives (`jsonlLines`: a line over 64 MiB
 * is refused with its line number), never held whole; rows are
 * decoded as {@link decodeJsonlLines} describes, and a bad row's error names the `hf://` URI and
 * its line. A URI that is not `hf://`, a missing file or a failed download is a
 * {@link DatasetError} with the HTTP status; the token never appears in one.
 */
export const makeHubJsonlSource = (options: HubAccessOptions = {}): DatasetSource["Service"] =>
  DatasetSource.of({
    rows: <A, I>(uri: string, schema: Schema.Codec<A, I>, rowOptions?: { readonly fromLine?: number }) =>
      Stream.unwrap(Effect.gen(function*() {
        const toDatasetError = Effect.mapError((error: HubRequestError) => new DatasetError({ uri, message: error.message, cause: error }))
        const location = yield* parseHubUri(uri).pipe(toDatasetError)
        if (location.path === "") return yield* new DatasetError({ uri, message: "names a repo, not a file in one" })
        const client = yield* makeHubClient(location, options).pipe(toDatasetError)
        const blob = yield* downloadBlob(client, "download", location.path).pipe(toDatasetError)
        if (blob === undefined) return yield* new DatasetError({ uri, message: `no file ${location.path} in ${client.uri}` })
        const bytes = Stream.fromReadableStream({
          evaluate: () => blob.stream(),
          onError: (error) => new DatasetError({ uri, message: client.toError("read", error).message })
        })
        return decodeJsonlLines(uri, schema, jsonlLines(uri, bytes), rowOptions?.fromLine)
      })).pipe(Stream.withSpan("HubJsonlSource.rows", { attributes: { uri } }))
  })

/** A layer with {@link makeHubJsonlSource}. */
export const hubJsonlSourceLayer = (options: HubAccessOptions = {}): Layer.Layer<DatasetSource> =>
  Layer.succeed(DatasetSource, makeHubJsonlSource(options))
