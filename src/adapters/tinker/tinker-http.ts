import { randomUUID } from "node:crypto"
import { Clock, Duration, Effect, Option, Redacted, Schedule, Schema } from "effect"
import { ErrorReply } from "../../protocol/index.js"
import { maskedCause } from "../logging/redact-secrets.js"
import { giveUpAfter, retryBackoff, TransientFailure, whileTransient } from "./retry-schedule.js"
import type { TinkerSettings } from "./tinker-options.js"

/**
 * A request to the Tinker service failed. `kind` says what the client should make of it:
 * `auth` (the key was refused), `invalid` (the request itself is wrong), `expired` (the
 * result of an accepted request is gone; submit it again), `transient` (retries ran out on
 * failures that might pass), `failed` (anything else). The message names the endpoint and
 * never holds the API key.
 */
export class TinkerRequestError extends Schema.TaggedError<TinkerRequestError>()("TinkerRequestError", {
  endpoint: Schema.String,
  kind: Schema.Literals(["auth", "invalid", "expired", "transient", "failed"]),
  status: Schema.optionalKey(Schema.Int),
  message: Schema.String,
  /** What it came from (the HTTP client's error, a malformed reply's issues), for `--verbose`; never the key. */
  cause: Schema.optional(Schema.Defect())
}) {}

/** A request body and how it is encoded. */
export interface RequestBody {
  readonly bytes: Uint8Array
  readonly contentType: string
  readonly contentEncoding?: string | undefined
}

/** One request to an endpoint under `/api/v1` (`/create_model`, ...). */
export interface TinkerRequest {
  readonly method?: "GET" | "POST"
  readonly endpoint: string
  readonly body?: RequestBody | undefined
  readonly accept?: string | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** Longest wait for the whole round trip; default the settings' `requestTimeoutMs`. */
  readonly timeoutMs?: number | undefined
}

/** A reply with its body read. */
export interface HttpReply {
  readonly status: number
  readonly headers: Headers
  readonly body: Uint8Array
}

/**
 * What one try of a request came to: a reply (any status), or no reply at all, with what the
 * HTTP client threw (masked like the message).
 */
export type AttemptOutcome =
  | { readonly _tag: "Reply"; readonly reply: HttpReply }
  | { readonly _tag: "Unreachable"; readonly message: string; readonly cause: unknown }

/** A reply to a submission, and how many retries it took. */
export interface Submitted {
  readonly reply: HttpReply
  readonly retries: number
}

/** The HTTP side of a Tinker session: single tries, and submissions that retry. */
export interface TinkerHttp {
  readonly settings: TinkerSettings
  /** The backend's one backoff between tries of a failing request, from the settings' retry timings. */
  readonly backoff: Schedule.Schedule<unknown, unknown>
  /** One try. A POST carries `idempotencyKey`, the same on every try of one logical request. */
  readonly attempt: (request: TinkerRequest, idempotencyKey: string) => Effect.Effect<AttemptOutcome>
  /**
   * Sends a request until it is answered with a 2xx: retries 408, 409, 429, 5xx and lost
   * connections with backoff (honouring `retry-after`), waits out a billing pause (402), and
   * fails at once on any other status.
   */
  readonly submit: (request: TinkerRequest) => Effect.Effect<Submitted, TinkerRequestError>
  /**
   * Waits out a billing pause (HTTP 402) reported by `endpoint`, or fails once the account has
   * been paused longer than the settings allow. Five minutes without a 402 end a pause.
   */
  readonly billingPause: (endpoint: string, reply: HttpReply) => Effect.Effect<void, TinkerRequestError>
  /** The error a reply with a status that is not retried makes. */
  readonly statusError: (endpoint: string, reply: HttpReply) => TinkerRequestError
  /** `message` with the API key blanked out, for text a server (or a proxy) sent back. */
  readonly scrub: (message: string) => string
}

// A billing pause with no 402 for this long is over; the next 402 starts a new one.
const billingQuietMs = 5 * 60_000

/** A fresh idempotency key: one per logical request, reused by each of its retries. */
export const newIdempotencyKey = (): string => `sous-${randomUUID()}`

/** A JSON request body. */
export const jsonBody = (value: unknown): RequestBody => ({
  bytes: new TextEncoder().encode(JSON.stringify(value)),
  contentType: "application/json"
})

/** Statuses that may pass: tried again with backoff. */
export const isRetryableStatus = (status: number): boolean =>
  status === 408 || status === 409 || status === 429 || status >= 500

/** Whether a failed submission is tried again: the server's `x-should-retry` if it says, else its status. */
const shouldRetry = (reply: HttpReply): boolean => {
  const said = reply.headers.get("x-should-retry")
  return said === "true" || (said !== "false" && isRetryableStatus(reply.status))
}

/** The body of a reply as JSON, or undefined when it is not JSON. */
export const replyJson = (reply: HttpReply): unknown => {
  try {
    return JSON.parse(new TextDecoder().decode(reply.body))
  } catch {
    return undefined
  }
}

const decodeErrorReply = Schema.decodeUnknownOption(ErrorReply)

/** The server's own words about a failed request: its `{error}`, else the start of the body. */
const serverMessage = (reply: HttpReply): string =>
  Option.match(decodeErrorReply(replyJson(reply)), {
    onSome: ({ error }) => (typeof error === "string" ? error : JSON.stringify(error)),
    onNone: () => new TextDecoder().decode(reply.body.subarray(0, 300)).trim()
  })

// fetch reports a refused connection or a DNS failure as "fetch failed" with the reason as its cause.
const unreachableMessage = (error: unknown, baseUrl: string, timeoutMs: number): string => {
  if (!(error instanceof Error)) return String(error)
  if (error.name === "TimeoutError") return `no reply from ${baseUrl} within ${timeoutMs} ms`
  const parts = [error.message === "fetch failed" ? `cannot reach ${baseUrl}` : error.message]
  if (error.cause instanceof Error) parts.push(error.cause.message)
  return parts.join(": ")
}

const isSuccess = (reply: HttpReply): boolean => reply.status >= 200 && reply.status < 300

const isBillingPause = (outcome: AttemptOutcome): boolean => outcome._tag === "Reply" && outcome.reply.status === 402

/** A try as the retries see it: a reply to keep (a 2xx, or a status not worth retrying), or a failure that may pass. */
const keptOrTransient = (outcome: AttemptOutcome): Effect.Effect<HttpReply, TransientFailure> => {
  if (outcome._tag === "Unreachable") return Effect.fail(new TransientFailure({ message: outcome.message, cause: outcome.cause }))
  const reply = outcome.reply
  if (isSuccess(reply) || !shouldRetry(reply)) return Effect.succeed(reply)
  return Effect.fail(new TransientFailure({ message: `HTTP ${reply.status}`, status: reply.status, headers: reply.headers }))
}

/** The HTTP client of one Tinker service, with the settings' key, timeouts and retry timings. */
export const makeTinkerHttp = (settings: TinkerSettings): TinkerHttp => {
  const secret = Redacted.value(settings.apiKey)
  // Belt and braces: a proxy or a server message might echo the key.
  const scrub = (message: string): string => message.replaceAll(secret, "[redacted]")

  // The billing pause is the account's, so it is shared by every request: it began at the
  // first 402 after a quiet spell, and lasts while 402s keep coming.
  let pausedSince: number | undefined
  let lastPausedAt: number | undefined
  let pauseLoggedAt: number | undefined

  const attempt = (request: TinkerRequest, idempotencyKey: string): Effect.Effect<AttemptOutcome> => {
    const method = request.method ?? "POST"
    const timeoutMs = request.timeoutMs ?? settings.requestTimeoutMs
    const headers: Record<string, string> = { "X-API-Key": secret, ...request.headers }
    if (method !== "GET") headers["X-Idempotency-Key"] = idempotencyKey
    if (request.body !== undefined) {
      headers["Content-Type"] = request.body.contentType
      if (request.body.contentEncoding !== undefined) headers["Content-Encoding"] = request.body.contentEncoding
    }
    if (request.accept !== undefined) headers["Accept"] = request.accept
    return Effect.tryPromise({
      try: async (signal): Promise<HttpReply> => {
        const response = await fetch(`${settings.baseUrl}/api/v1${request.endpoint}`, {
          method,
          headers,
          ...(request.body === undefined ? {} : { body: request.body.bytes }),
          signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)])
        })
        return { status: response.status, headers: response.headers, body: new Uint8Array(await response.arrayBuffer()) }
      },
      catch: (error) => error
    }).pipe(
      Effect.match({
        onSuccess: (reply): AttemptOutcome => ({ _tag: "Reply", reply }),
        onFailure: (error): AttemptOutcome => ({
          _tag: "Unreachable",
          message: scrub(unreachableMessage(error, settings.baseUrl, timeoutMs)),
          cause: maskedCause(error, scrub)
        })
      })
    )
  }

  const statusError = (endpoint: string, reply: HttpReply): TinkerRequestError => {
    const said = serverMessage(reply)
    const status = reply.status
    const detail = said === "" ? `HTTP ${status}` : `HTTP ${status}: ${said}`
    if (status === 401 || status === 403) {
      return new TinkerRequestError({
        endpoint,
        kind: "auth",
        status,
        message: scrub(
          `${endpoint}: the service refused the API key (${detail}); ` +
            `check ${settings.apiKeyEnv}, which is sent as the X-API-Key header`
        )
      })
    }
    const kind = status >= 400 && status < 500 && status !== 408 && status !== 429 ? "invalid" : "failed"
    return new TinkerRequestError({ endpoint, kind, status, message: scrub(`${endpoint} failed with ${detail}`) })
  }

  const billingPause = (endpoint: string, reply: HttpReply): Effect.Effect<void, TinkerRequestError> =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      if (lastPausedAt === undefined || now - lastPausedAt > billingQuietMs) pausedSince = now
      lastPausedAt = now
      if (now - (pausedSince ?? now) > settings.billing.maxPauseMs) {
        return yield* new TinkerRequestError({
          endpoint,
          kind: "failed",
          status: 402,
          message: scrub(
            `${endpoint}: the account has been paused for billing for over ${Math.round(settings.billing.maxPauseMs / 1000)} s ` +
              `(${serverMessage(reply)}); giving up`
          )
        })
      }
      // Once a minute is enough to tell the user why nothing moves.
      if (pauseLoggedAt === undefined || now - pauseLoggedAt >= 60_000) {
        pauseLoggedAt = now
        yield* Effect.logWarning(`tinker: the account is paused for billing; waiting (${scrub(serverMessage(reply))})`)
      }
      yield* Effect.sleep(settings.billing.pauseMs)
    })

  const backoff = retryBackoff(settings.retry)

  // One try, past any billing pause: a 402 waits the pause out and sends the request again.
  const attemptPastBillingPause = (request: TinkerRequest, key: string): Effect.Effect<AttemptOutcome, TinkerRequestError> =>
    attempt(request, key).pipe(
      Effect.tap((outcome) =>
        outcome._tag === "Reply" && outcome.reply.status === 402 ? billingPause(request.endpoint, outcome.reply) : Effect.void
      ),
      Effect.repeat({ while: isBillingPause })
    )

  const submit = (request: TinkerRequest): Effect.Effect<Submitted, TinkerRequestError> =>
    Effect.gen(function*() {
      const { endpoint } = request
      const key = newIdempotencyKey()
      const startedAt = yield* Clock.currentTimeMillis
      let retries = 0
      // The retry budget runs from the first try, billing pauses included: a request is given
      // up on once it has been on its way for giveUpAfterMs, however that time was spent.
      const retrying = backoff.pipe(
        Schedule.setInputType<TransientFailure | TinkerRequestError>(),
        whileTransient,
        giveUpAfter(settings.retry.giveUpAfterMs, () => startedAt),
        Schedule.tap(({ duration, input }) => {
          retries += 1
          return Effect.logWarning(`tinker: retrying ${endpoint} in ${Duration.toMillis(duration)} ms after ${input.message}`).pipe(
            Effect.annotateLogs({ endpoint, request: key, retry: retries })
          )
        })
      )
      const reply = yield* attemptPastBillingPause(request, key).pipe(
        Effect.flatMap(keptOrTransient),
        Effect.retry(retrying),
        Effect.catchTag("TransientFailure", (last) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) =>
            Effect.fail(
              new TinkerRequestError({
                endpoint,
                kind: "transient",
                ...(last.status === undefined ? {} : { status: last.status }),
                message: `${endpoint} kept failing for ${Math.round((now - startedAt) / 1000)} s ` +
                  `(${retries} retries; last: ${last.message})`,
                cause: last.cause
              })
            )))
      )
      if (!isSuccess(reply)) return yield* statusError(endpoint, reply)
      return { reply, retries }
    })

  return { settings, backoff, attempt, submit, billingPause, statusError, scrub }
}
