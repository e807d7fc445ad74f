import type { ServerResponse } from "node:http"
import { Schema } from "effect"

/** An HTTP answer, built in full before it is sent (so it can be stored and replayed). */
export interface Reply {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: Uint8Array
}

/** Content type of protobuf bodies, as the Tinker SDK names it. */
export const protobufContentType = "application/x-protobuf"

const encoder = new TextEncoder()

/** A JSON answer. */
export const jsonReply = (body: unknown, status = 200, headers: Readonly<Record<string, string>> = {}): Reply => ({
  status,
  headers: { "content-type": "application/json", ...headers },
  body: encoder.encode(JSON.stringify(body))
})

/** A protobuf answer. */
export const protobufReply = (body: Uint8Array, headers: Readonly<Record<string, string>> = {}): Reply => ({
  status: 200,
  headers: { "content-type": protobufContentType, ...headers },
  body
})

/**
 * A request the server refuses with `status` and a JSON `{error: message}` body: 400
 * malformed, 401 no key, 404 unknown, 413 too large, 415 wrong content type.
 */
export class HttpFailure extends Schema.TaggedError<HttpFailure>()("HttpFailure", {
  status: Schema.Int,
  message: Schema.String,
  /** What the refusal came from (a parse error, a backend error); never sent to the client. */
  cause: Schema.optional(Schema.Defect())
}) {}

/** The answer for a refused request. */
export const failureReply = (failure: HttpFailure): Reply => jsonReply({ error: failure.message }, failure.status)

/** Writes `reply` as the response, unless the client has gone. */
export const sendReply = (response: ServerResponse, reply: Reply): void => {
  if (response.destroyed) return
  response.writeHead(reply.status, { ...reply.headers, "content-length": String(reply.body.byteLength) })
  response.end(reply.body)
}
