import type { IncomingMessage } from "node:http"
import { Effect, Schema } from "effect"
import { messageOf } from "../ports/thrown-message.js"
import { formatSchemaProblems, schemaProblems } from "../ports/index.js"
import { zstdDecompressBounded } from "../protocol/index.js"
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
 * How far a zstd body may expand beyond its compressed size. Real Tinker bodies compress
 * little: token ids and targets (int32/int64 little-endian) 3 to 10 times, a whole SFT batch
 * about 8 times; only repeated prompts push it higher (an RL group of n samples of one prompt
 * compresses roughly n-fold: on synthetic batches, 44 times for 64 samples of a 2,000-token
 * prompt, 67 times for 128). 100 times leaves room for those, while a bomb (250 MB from 8 KB
 * is 30,000 times) is stopped early.
 */
export const zstdMaxRatio = 100

/**
 * Any body may expand to this size whatever its ratio: the SDK splits forward/backward batches
 * into chunks of about 5 MB (see `client/config`), so no SDK chunk, however repetitive, meets
 * the ratio cap, and 16 MiB costs the server nothing to hold.
 */
export const zstdRatioFloorBytes = 16 * 1024 * 1024

/**
 * Undoes `Content-Encoding`: none or `identity` as sent; `zstd` expanded off the event loop up
 * to `maxDecompressedBytes` and to {@link zstdMaxRatio} times the compressed size (413 beyond
 * either, found while expanding, so a small bomb can neither take the server's memory nor
 * stall it).
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
  const limits = { maxBytes: maxDecompressedBytes, maxRatio: zstdMaxRatio, ratioFloorBytes: zstdRatioFloorBytes }
  return zstdDecompressBounded(body, limits).pipe(
    Effect.mapError((error) => new HttpFailure({ status: error.tooLarge ? 413 : 400, message: error.message, cause: error }))
  )
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
