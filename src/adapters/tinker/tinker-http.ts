import { randomUUID } from "node:crypto"
import { Clock, Duration, Effect, Option, Redacted, Schedule, Schema } from "effect"
import { ErrorReply } from "../../protocol/index.js"
import { maskedCause } from "../logging/redact-secrets.js"
import { giveUpAfter, giveUpOnRefusals, retryBackoff, TransientFailure, whileTransient } from "./retry-schedule.js"
import type { TinkerSettings } from "./tinker-options.js"

/**
 * A request to the Tinker service failed. `kind` says what the client should make of it:
 * `auth` (the key was refused), `invalid` (the request itself is wrong), `expired` (the
 * result of an accepted request is gone; submit it again), `transient` (retries ran out on
 * failures that might pass), `unreachable` (the service cannot be reached at its URL, and
 * waiting will not change that: a port fetch refuses, a host DNS does not know, nothing
 * listening after a few tries), `failed` (anything else). The message names the endpoint
 * and never holds the API key.
 */
export class TinkerRequestError extends Schema.TaggedError<TinkerRequestError>()("TinkerRequestError", {
  endpoint: Schema.String,
  kind: Schema.Literals(["auth", "invalid", "expired", "transient", "unreachable", "failed"]),
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
 * Why a try got no reply: `lost` (a timeout, a dropped connection, a resolver that failed for
 * now: may pass), `refused` (nothing listens there: passes if a server is restarting),
 * `badPort` (fetch refuses the port), `unknownHost` (DNS says the host does not exist),
 * `invalidUrl` (fetch cannot make the request at all). The last three never pass.
 */
export type UnreachableReason = "lost" | "refused" | "badPort" | "unknownHost" | "invalidUrl"

/**
 * What one try of a request came to: a reply (any status), or no reply at all, with why,
 * what the HTTP client threw (masked like the message), and whether retrying is of no use.
 */
export type AttemptOutcome =
  | { readonly _tag: "Reply"; readonly reply: HttpReply }
  | {
    readonly _tag: "Unreachable"
    readonly reason: UnreachableReason
    /** No retry can mend it: `badPort`, `invalidUrl`, and `unknownHost` before the service ever answered. */
    readonly permanent: boolean
    readonly message: string
    readonly cause: unknown
  }

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
  /**
   * A try with no reply as a retry sees it: a {@link TransientFailure} (`refused` marked), or,
   * when it is `permanent`, the `unreachable` error for `endpoint` at once.
   */
  readonly unreachable: (
    endpoint: string,
    outcome: Extract<AttemptOutcome, { readonly _tag: "Unreachable" }>
  ) => Effect.Effect<never, TransientFailure | TinkerRequestError>
  /**
   * The error for `endpoint` once retries that began `failingForMs` ago end on `last`:
   * `unreachable` after a refused connection, else `transient` with `message` (what was
   * tried, for how long).
   */
  readonly retriesEnded: (endpoint: string, last: TransientFailure, failingForMs: number, message: string) => TinkerRequestError
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

const errorCode = (error: unknown): unknown => error instanceof Error ? (error as { readonly code?: unknown }).code : undefined

// fetch reports a refused connection or a DNS failure as a TypeError "fetch failed" with the
// reason as its cause; a connection tried on several addresses (localhost's ::1 and
// 127.0.0.1) fails with an AggregateError of each address's error.
const socketErrors = (error: Error): ReadonlyArray<unknown> =>
  error.cause instanceof AggregateError ? error.cause.errors : [error.cause]

/** Why fetch threw `error`, as far as retrying goes. */
export const unreachableReason = (error: unknown): UnreachableReason => {
  if (!(error instanceof Error) || error.name === "TimeoutError" || error.name === "AbortError") return "lost"
  if (error.message !== "fetch failed") {
    // fetch throws at once, with no cause, on a URL it will not request ("Failed to parse
    // URL", "a URL that includes credentials"); a connection lost mid-body says "terminated".
    return error instanceof TypeError && /\bURL\b/.test(error.message) ? "invalidUrl" : "lost"
  }
  const causes = socketErrors(error)
  const all = (test: (cause: unknown) => boolean) => causes.length > 0 && causes.every(test)
  // undici's words for a port on the Fetch standard's block list (6000, 6665, 10080, ...).
  if (all((cause) => cause instanceof Error && cause.message === "bad port")) return "badPort"
  if (all((cause) => errorCode(cause) === "ECONNREFUSED")) return "refused"
  // EAI_AGAIN (the resolver could not answer) is not the same: that may pass.
  if (all((cause) => errorCode(cause) === "ENOTFOUND")) return "unknownHost"
  return "lost"
}

const unreachableMessage = (error: unknown, reason: UnreachableReason, baseUrl: string, timeoutMs: number): string => {
  if (!(error instanceof Error)) return String(error)
  if (error.name === "TimeoutError") return `no reply from ${baseUrl} within ${timeoutMs} ms`
  switch (reason) {
    case "badPort":
      return `cannot reach ${baseUrl}: fetch refuses to connect to port ${new URL(baseUrl).port} ` +
        "(\"bad port\": a port the Fetch standard blocks); serve the API on another port"
    case "unknownHost":
      return `cannot reach ${baseUrl}: DNS does not know the host ${new URL(baseUrl).hostname} (ENOTFOUND); check the base URL`
    case "invalidUrl":
      return `cannot reach ${baseUrl}: fetch cannot request this URL (${error.message})`
    default: {
      const parts = [error.message === "fetch failed" ? `cannot reach ${baseUrl}` : error.message]
      if (error.cause instanceof Error) parts.push(error.cause.message)
      return parts.join(": ")
    }
  }
}

const isSuccess = (reply: HttpReply): boolean => reply.status >= 200 && reply.status < 300

const isBillingPause = (outcome: AttemptOutcome): boolean => outcome._tag === "Reply" && outcome.reply.status === 402

/**
 * A try as the retries see it: a reply to keep (a 2xx, or a status not worth retrying), a
 * failure that may pass, or an endpoint that cannot be reached for good.
 */
const keptOrTransient = (http: Pick<TinkerHttp, "unreachable">, endpoint: string) =>
(outcome: AttemptOutcome): Effect.Effect<HttpReply, TransientFailure | TinkerRequestError> => {
  if (outcome._tag === "Unreachable") return http.unreachable(endpoint, outcome)
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
  // Whether the service has ever answered: a host DNS does not know is a wrong URL before
  // then, and a resolver's passing lapse after (as likely as a DNS record being deleted).
  let answered = false

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
        onSuccess: (reply): AttemptOutcome => {
          answered = true
          return { _tag: "Reply", reply }
        },
        onFailure: (error): AttemptOutcome => {
          const reason = unreachableReason(error)
          return {
            _tag: "Unreachable",
            reason,
            permanent: reason === "badPort" || reason === "invalidUrl" || (reason === "unknownHost" && !answered),
            message: scrub(unreachableMessage(error, reason, settings.baseUrl, timeoutMs)),
            cause: maskedCause(error, scrub)
          }
        }
      })
    )
  }

  const unreachable = (
    endpoint: string,
    outcome: Extract<AttemptOutcome, { readonly _tag: "Unreachable" }>
  ): Effect.Effect<never, TransientFailure | TinkerRequestError> =>
    outcome.permanent
      ? Effect.fail(new TinkerRequestError({ endpoint, kind: "unreachable", message: `${endpoint}: ${outcome.message}`, cause: outcome.cause }))
      : Effect.fail(new TransientFailure({ message: outcome.message, cause: outcome.cause, refused: outcome.reason === "refused" }))

  const retriesEnded = (endpoint: string, last: TransientFailure, failingForMs: number, message: string): TinkerRequestError =>
    last.refused === true
      ? new TinkerRequestError({
        endpoint,
        kind: "unreachable",
        message: scrub(
          `${endpoint}: cannot reach ${settings.baseUrl}: the connection was refused, still after ` +
            `${Math.round(failingForMs / 1000)} s of retries; is the service running, and listening on that port?`
        ),
        cause: last.cause
      })
      : new TinkerRequestError({
        endpoint,
        kind: "transient",
        ...(last.status === undefined ? {} : { status: last.status }),
        message: scrub(message),
        cause: last.cause
      })

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
        giveUpOnRefusals(settings.retry.refusedTries),
        Schedule.tap(({ duration, input }) => {
          retries += 1
          return Effect.logWarning(`tinker: retrying ${endpoint} in ${Duration.toMillis(duration)} ms after ${input.message}`).pipe(
            Effect.annotateLogs({ endpoint, request: key, retry: retries })
          )
        })
      )
      const reply = yield* attemptPastBillingPause(request, key).pipe(
        Effect.flatMap(keptOrTransient({ unreachable }, endpoint)),
        Effect.retry(retrying),
        Effect.catchTag("TransientFailure", (last) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) =>
            Effect.fail(retriesEnded(
              endpoint,
              last,
              now - startedAt,
              `${endpoint} kept failing for ${Math.round((now - startedAt) / 1000)} s (${retries} retries; last: ${last.message})`
            ))))
      )
      if (!isSuccess(reply)) return yield* statusError(endpoint, reply)
      return { reply, retries }
    })

  return { settings, backoff, attempt, submit, billingPause, unreachable, retriesEnded, statusError, scrub }
}
