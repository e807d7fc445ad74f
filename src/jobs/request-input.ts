/**
 * Reading what a request sends the job service: JSON bodies and multipart uploads within
 * their size limits, and list paging from the query. Every refusal is an {@link ApiError}.
 */
import type { IncomingMessage } from "node:http"
import { Effect, type Schema } from "effect"
import type { HttpFailure } from "../server/http-reply.js"
import { decodeJsonBody, readBody, requireMediaType } from "../server/request-body.js"
import { ApiError, invalidRequest } from "./api-error.js"

const fromHttpFailure = (failure: HttpFailure) =>
  new ApiError({ status: failure.status, message: failure.message, param: null, code: null, cause: failure })

/** A JSON body of at most `maxBytes`, decoded by `schema` (400 names each wrong field). */
export const jsonBody = <A, I>(request: IncomingMessage, schema: Schema.Codec<A, I>, maxBytes: number) =>
  Effect.gen(function*() {
    yield* requireMediaType(request, "application/json")
    return yield* decodeJsonBody(schema, yield* readBody(request, maxBytes))
  }).pipe(Effect.mapError(fromHttpFailure))

/** An uploaded file with the form's `purpose`. */
export interface Upload {
  readonly filename: string
  readonly purpose: string
  readonly bytes: Uint8Array
}

/**
 * A `multipart/form-data` upload of at most `maxBytes` in all, with its `file` and `purpose`
 * fields (as the OpenAI clients send `POST /v1/files`). Parsed by the WHATWG `Request` of
 * Node's fetch, which reads multipart bodies: no hand-written parser.
 */
export const multipartUpload = (request: IncomingMessage, maxBytes: number) =>
  Effect.gen(function*() {
    const contentType = request.headers["content-type"] ?? ""
    if (!contentType.toLowerCase().startsWith("multipart/form-data")) {
      return yield* invalidRequest(`this endpoint takes a multipart/form-data upload, got ${contentType === "" ? "no Content-Type" : contentType}`)
    }
    const body = yield* readBody(request, maxBytes).pipe(Effect.mapError(fromHttpFailure))
    const form = yield* Effect.tryPromise({
      try: () => new Request("http://upload.invalid/", { method: "POST", headers: { "content-type": contentType }, body }).formData(),
      catch: () => invalidRequest("the multipart body cannot be parsed")
    })
    const file = form.get("file")
    const purpose = form.get("purpose")
    if (file === null || typeof file === "string") return yield* invalidRequest("the upload has no file field", "file")
    if (typeof purpose !== "string") return yield* invalidRequest("the upload has no purpose field", "purpose")
    const bytes = new Uint8Array(yield* Effect.promise(() => file.arrayBuffer()))
    return { filename: file.name === "" ? "upload.jsonl" : file.name, purpose, bytes } satisfies Upload
  })

/** `limit` (1 to 100, default 20) and `after` of a list request. */
export const paging = (query: URLSearchParams) =>
  Effect.gen(function*() {
    const text = query.get("limit")
    const limit = text === null ? 20 : Number(text)
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
      return yield* invalidRequest(`limit must be an integer from 1 to 100, got '${text}'`, "limit")
    }
    const after = query.get("after") ?? undefined
    return { limit, after }
  })
