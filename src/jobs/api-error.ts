/**
 * Refusals in the OpenAI error shape, `{"error": {"message", "type", "param", "code"}}`, so
 * clients built for that API (the official SDKs among them) raise the error class they expect
 * for each status.
 */
import { Schema } from "effect"
import { jsonReply, type Reply } from "../server/http-reply.js"

/** A request the job service refuses, with the HTTP status and what to tell the client. */
export class ApiError extends Schema.TaggedError<ApiError>()("ApiError", {
  status: Schema.Int,
  message: Schema.String,
  /** The request field at fault, when there is one (`training_file`, `hyperparameters.n_epochs`). */
  param: Schema.NullOr(Schema.String),
  /** A short machine-readable reason (`invalid_file`, `not_found`). */
  code: Schema.NullOr(Schema.String),
  /** What the refusal came from; a 500's is logged, and none is ever sent. */
  cause: Schema.optional(Schema.Defect())
}) {}

/** The OpenAI error `type` of a status. */
const errorType = (status: number): string =>
  status === 401
    ? "authentication_error"
    : status === 404
    ? "not_found_error"
    : status === 409
    ? "conflict_error"
    : status === 429
    ? "rate_limit_error"
    : status >= 500
    ? "server_error"
    : "invalid_request_error"

/** A 400 about `param`. */
export const invalidRequest = (message: string, param: string | null = null, code: string | null = null) =>
  new ApiError({ status: 400, message, param, code })

/** A 404 for a thing this tenant has no access to: the same answer whether it exists or not. */
export const notFound = (what: string, id: string) =>
  new ApiError({ status: 404, message: `No ${what} found with id '${id}'.`, param: null, code: "not_found" })

/** The reply for a refusal. */
export const errorReply = (error: ApiError): Reply =>
  jsonReply({ error: { message: error.message, type: errorType(error.status), param: error.param, code: error.code } }, error.status)
