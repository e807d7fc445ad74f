import type { IncomingMessage } from "node:http"
import { Effect, Schema } from "effect"
import { messageOf } from "../ports/thrown-message.js"
import { formatSchemaProblems, schemaProblems } from "../ports/index.js"
import { ZstdDecompressError, zstdDecompress } from "../protocol/index.js"
import { HttpFailure } from "./http-reply.js"

const tooLarge = (limit: number) =>
  new HttpFailure({ status: 413, message: `the request body is larger than this server's limit of ${limit} bytes` })

/**
 * Reads a request's body, refusing one over `maxBytes` with 413: first by its declared
 * length, then while it streams, so a client that lies about the length (or sends chunks)
 * cannot make the server hold more than the limit.
 */
export const readBody = (request: IncomingMessage, maxBytes: number): Effect.Effect<Uint8Array, HttpFailure> =>
  Effect.callback<Uint8Array, HttpFailure>((resume) => {
    const declared = Number(request.headers["content-length"])
    if (Number.isFinite(declared) && declared > maxBytes) {
      // Node reads and discards the unread body once the answer is sent.
      resume(Effect.fail(tooLarge(maxBytes)))
      return
    }
    const chunks: Array<Buffer> = []
    let size = 0
    // Node emits a request's error only to listeners, so none is left behind once done.
    const cleanup = () => {
      request.off("data", onData)
      request.off("end", onEnd)
      request.off("error", onError)
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size <= maxBytes) {
        chunks.push(chunk)
        return
      }
      // The stream keeps flowing with no listener, so the rest is read and dropped.
      cleanup()
      chunks.length = 0
      resume(Effect.fail(tooLarge(maxBytes)))
    }
    const onEnd = () => {
      cleanup()
      resume(Effect.succeed(new Uint8Array(Buffer.concat(chunks, size))))
    }
    const onError = (error: Error) => {
      cleanup()
      resume(Effect.fail(new HttpFailure({ status: 400, message: `the request body could not be read: ${error.message}`, cause: error })))
    }
    request.on("data", onData)
    request.on("end", onEnd)
    request.on("error", onError)
    return Effect.sync(cleanup)
  })

/** The media type of a request, lower-cased and without parameters (`application/json`). */
const mediaType = (request: IncomingMessage): string | undefined =>
  request.headers["content-type"]?.split(";")[0]?.trim().toLowerCase()

/** Refuses a body of another media type than `expected` with 415. */
export const requireMediaType = (request: IncomingMessage, expected: string): Effect.Effect<void, HttpFailure> => {
  const actual = mediaType(request)
  return actual === expected
    ? Effect.void
    : Effect.fail(new HttpFailure({
      status: 415,
      message: `this endpoint takes Content-Type: ${expected}, got ${actual === undefined ? "none" : actual}`
    }))
}

/**
 * Undoes `Content-Encoding`: none or `identity` as sent, `zstd` expanded up to
 * `maxDecompressedBytes` (413 beyond, so a small bomb cannot take the server's memory).
 */
export const decodeContent = (
  request: IncomingMessage,
  body: Uint8Array,
  maxDecompressedBytes: number
): Effect.Effect<Uint8Array, HttpFailure> => {
  const encoding = request.headers["content-encoding"]?.trim().toLowerCase()
  if (encoding === undefined || encoding === "" || encoding === "identity") return Effect.succeed(body)
  if (encoding !== "zstd") {
    return Effect.fail(new HttpFailure({ status: 415, message: `unsupported Content-Encoding ${encoding}: send zstd or none` }))
  }
  return Effect.try({
    try: () => zstdDecompress(body, maxDecompressedBytes),
    catch: (error) =>
      error instanceof ZstdDecompressError && error.tooLarge
        ? new HttpFailure({ status: 413, message: `the zstd body expands past this server's limit of ${maxDecompressedBytes} bytes`, cause: error })
        : new HttpFailure({ status: 400, message: messageOf(error), cause: error })
  })
}

/** Parses a JSON body with `schema`; 400 names each field that is wrong and what was found. */
export const decodeJsonBody = <A, I>(schema: Schema.Codec<A, I>, body: Uint8Array): Effect.Effect<A, HttpFailure> =>
  Effect.gen(function*() {
    const input = yield* Effect.try({
      try: (): unknown => JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body)),
      catch: (error) =>
        new HttpFailure({ status: 400, message: `the body is not valid JSON: ${messageOf(error)}`, cause: error })
    })
    return yield* Schema.decodeUnknownEffect(schema)(input, { errors: "all" }).pipe(
      Effect.mapError((error) =>
        new HttpFailure({ status: 400, message: `invalid request body: ${formatSchemaProblems(schemaProblems(error, input))}`, cause: error })
      )
    )
  })
