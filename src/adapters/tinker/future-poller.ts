import { Clock, Effect } from "effect"
import { type HttpReply, jsonBody, newIdempotencyKey, replyJson, type TinkerHttp, TinkerRequestError } from "./tinker-http.js"

/** What to poll for: the future an accepted request returned. */
export interface FutureToPoll {
  readonly requestId: string
  /** The endpoint that accepted the request, for messages. */
  readonly endpoint: string
  /** `X-Tinker-Request-Type` (`ForwardBackward`, `Sample`, ...). */
  readonly requestType: string
  /** Ask for a protobuf result (forward/backward outputs and samples). */
  readonly acceptProto: boolean
  /** How long the submission took, sent on the first poll as the SDK does. */
  readonly submitMs: number
}

/** The result of a future: the reply that carried it, its JSON (undefined for protobuf), and the polls retried. */
export interface FutureResult {
  readonly reply: HttpReply
  readonly json: unknown
  readonly retries: number
}

// A bare 400 may come from a proxy between us and the service; a few are tried again.
const maxBadRequestRetries = 3

const isProtobuf = (reply: HttpReply): boolean =>
  (reply.headers.get("content-type") ?? "").includes("application/x-protobuf")

const field = (json: unknown, key: string): unknown =>
  typeof json === "object" && json !== null ? (json as Record<string, unknown>)[key] : undefined

/**
 * Long-polls `/retrieve_future` until the request's result is there. `try_again` and 408
 * poll again at once (queue-state changes are logged); `complete_metadata` polls again for
 * the payload; 5xx polls again at once and 429 or a lost connection after a backoff; a bare
 * 400 is tried again up to 3 times; 402 waits out the billing pause. A result `{error,
 * category}` fails (`invalid` for category `user`), 410 fails as `expired` (the caller
 * submits the request again), anything else fails at once. Polls keep failing for at most
 * the settings' `giveUpAfterMs`.
 */
export const pollFuture = (http: TinkerHttp, future: FutureToPoll): Effect.Effect<FutureResult, TinkerRequestError> =>
  Effect.gen(function*() {
    const { settings } = http
    const { endpoint, requestId } = future
    const fail = (kind: TinkerRequestError["kind"], message: string, status?: number) =>
      new TinkerRequestError({ endpoint, kind, message: http.scrub(message), ...(status === undefined ? {} : { status }) })
    let iteration = 0
    let allowMetadataOnly = true
    let backoffs = 0
    let badRequests = 0
    let retries = 0
    let queueState: string | undefined
    let failingSince: number | undefined

    // Counts a failed poll, and gives up once polls have been failing too long.
    const failedPoll = (reason: string, status?: number) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        failingSince ??= now
        retries += 1
        if (now - failingSince >= settings.retry.giveUpAfterMs) {
          return yield* fail(
            "transient",
            `${endpoint}: the result of request ${requestId} could not be fetched for ` +
              `${Math.round((now - failingSince) / 1000)} s (last: ${reason})`,
            status
          )
        }
        yield* Effect.logWarning(`tinker: polling the result of ${endpoint} again after ${reason}`)
      })

    while (true) {
      const headers: Record<string, string> = {
        "X-Tinker-Request-Iteration": String(iteration),
        "X-Tinker-Request-Type": future.requestType
      }
      if (iteration === 0) headers["X-Tinker-Create-Promise-Roundtrip-Time"] = String(future.submitMs / 1000)
      iteration += 1
      const outcome = yield* http.attempt({
        endpoint: "/retrieve_future",
        body: jsonBody({ request_id: requestId, allow_metadata_only: allowMetadataOnly }),
        accept: future.acceptProto ? "application/x-protobuf, application/json" : "application/json",
        headers,
        timeoutMs: settings.pollTimeoutMs
      }, newIdempotencyKey())

      if (outcome._tag === "Unreachable") {
        yield* failedPoll(outcome.message)
        yield* Effect.sleep(Math.min(settings.retry.initialBackoffMs * 2 ** backoffs, settings.retry.maxBackoffMs))
        backoffs += 1
        continue
      }
      const reply = outcome.reply
      const status = reply.status
      const json = isProtobuf(reply) ? undefined : replyJson(reply)
      // Any answer shows the connection works again.
      if (status !== 429) backoffs = 0

      const noteQueueState = (body: unknown) =>
        Effect.gen(function*() {
          const state = field(body, "queue_state")
          if (typeof state !== "string" || state === queueState) return
          // The first "active" is the normal case, not news.
          if (queueState !== undefined || state !== "active") {
            const reason = field(body, "queue_state_reason")
            yield* Effect.logInfo(
              `tinker: ${endpoint} queue is ${state}${typeof reason === "string" ? ` (${reason})` : ""}`
            )
          }
          queueState = state
        })

      if (status === 200) {
        failingSince = undefined
        badRequests = 0
        if (field(json, "type") === "try_again") {
          yield* noteQueueState(json)
          continue
        }
        if (field(json, "status") === "complete_metadata") {
          allowMetadataOnly = false
          continue
        }
        const error = field(json, "error")
        if (error !== undefined) {
          const category = field(json, "category")
          return yield* fail(
            category === "user" ? "invalid" : "failed",
            `${endpoint} failed: ${typeof error === "string" ? error : JSON.stringify(error)}`
          )
        }
        return { reply, json, retries }
      }
      if (status === 408) {
        failingSince = undefined
        badRequests = 0
        yield* noteQueueState(json)
        continue
      }
      if (status === 402) {
        yield* http.billingPause(endpoint, reply)
        continue
      }
      if (status === 410) {
        return yield* fail("expired", `${endpoint}: the result of request ${requestId} expired (HTTP 410)`, 410)
      }
      if (status >= 500) {
        yield* failedPoll(`HTTP ${status}`, status)
        continue
      }
      if (status === 429) {
        yield* failedPoll("HTTP 429", status)
        yield* Effect.sleep(Math.min(settings.retry.initialBackoffMs * 2 ** backoffs, settings.retry.maxBackoffMs))
        backoffs += 1
        continue
      }
      if (status === 400 && field(json, "error") === undefined && badRequests < maxBadRequestRetries) {
        badRequests += 1
        yield* failedPoll("a bare HTTP 400", status)
        continue
      }
      const error = http.statusError(endpoint, reply)
      return yield* fail(
        error.kind === "auth" ? "auth" : "failed",
        `${error.message} (while fetching the result of request ${requestId})`,
        status
      )
    }
  }).pipe(Effect.annotateLogs({ endpoint: future.endpoint, request_id: future.requestId }))
