import { Clock, Effect, Option, Schedule, Schema } from "effect"
import { CompleteMetadataResponse, RequestFailedResponse, TryAgainResponse } from "../../protocol/index.js"
import { maskedCause } from "../logging/redact-secrets.js"
import { giveUpAfter, giveUpOnRefusals, TransientFailure, whileTransient } from "./retry-schedule.js"
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

// What an answered poll comes to: poll again, the result, or a failure that polling cannot mend.
type PollStep =
  | { readonly _tag: "Again" }
  | { readonly _tag: "Done"; readonly reply: HttpReply; readonly json: unknown }
  | { readonly _tag: "Failed"; readonly error: TinkerRequestError }

const again: PollStep = { _tag: "Again" }
const failed = (error: TinkerRequestError): PollStep => ({ _tag: "Failed", error })
const isSettled = (step: PollStep): step is Exclude<PollStep, { readonly _tag: "Again" }> => step._tag !== "Again"

// A bare 400 may come from a proxy between us and the service; a few are tried again.
const maxBadRequestRetries = 3

// The field that tells each kind of `/retrieve_future` reply apart; the reply is then decoded
// with its own schema, so a malformed one fails instead of passing for a result.
const saysTryAgain = Schema.is(Schema.Struct({ type: Schema.Literal("try_again") }))
const saysMetadataOnly = Schema.is(Schema.Struct({ status: Schema.Literal("complete_metadata") }))
const saysFailed = Schema.is(Schema.Struct({ error: Schema.Unknown }))
const decodeTryAgain = Schema.decodeUnknownOption(TryAgainResponse)

const isProtobuf = (reply: HttpReply): boolean =>
  (reply.headers.get("content-type") ?? "").includes("application/x-protobuf")

/**
 * Long-polls `/retrieve_future` until the request's result is there. `try_again` and 408
 * poll again at once (queue-state changes are logged); `complete_metadata` polls again for
 * the payload; 5xx polls again at once and 429 or a lost connection after a backoff (which
 * starts over after any other reply); a bare 400 is tried again up to 3 times; 402 waits out
 * the billing pause. A result `{error, category}` fails (`invalid` for category `user`), 410
 * fails as `expired` (the caller submits the request again), a reply of the wrong shape or
 * any other status fails at once. Polls keep failing for at most the settings' `giveUpAfterMs`,
 * and find nothing listening at most `refusedTries` times in a row; a port fetch refuses or a
 * host DNS does not know fails at once (`unreachable`).
 */
export const pollFuture = (http: TinkerHttp, future: FutureToPoll): Effect.Effect<FutureResult, TinkerRequestError> =>
  Effect.gen(function*() {
    const { settings } = http
    const { endpoint, requestId } = future
    const fail = (kind: TinkerRequestError["kind"], message: string, options: { status?: number; cause?: unknown } = {}) =>
      new TinkerRequestError({
        endpoint,
        kind,
        message: http.scrub(message),
        ...(options.status === undefined ? {} : { status: options.status }),
        ...(options.cause === undefined ? {} : { cause: options.cause })
      })
    let iteration = 0
    let allowMetadataOnly = true
    let badRequests = 0
    let retries = 0
    let queueState: string | undefined
    // When the current run of failed polls began: its first failure; an answer (200, 408) ends it.
    let failingSince: number | undefined

    // Every failed poll is counted and logged; polls give up once they have failed for too
    // long in a row, or found nothing listening `refusedTries` times in a row.
    const pollingAgain = (delays: Schedule.Schedule<unknown, unknown>, refusedTries: number) =>
      delays.pipe(
        Schedule.setInputType<TransientFailure | TinkerRequestError>(),
        whileTransient,
        giveUpAfter(settings.retry.giveUpAfterMs, (now) => (failingSince ??= now)),
        giveUpOnRefusals(refusedTries),
        Schedule.tap(({ input }) => {
          retries += 1
          return Effect.logWarning(`tinker: polling the result of ${endpoint} again after ${input.message}`)
        })
      )

    const send = Effect.suspend(() => {
      const headers: Record<string, string> = {
        "X-Tinker-Request-Iteration": String(iteration),
        "X-Tinker-Request-Type": future.requestType
      }
      if (iteration === 0) headers["X-Tinker-Create-Promise-Roundtrip-Time"] = String(future.submitMs / 1000)
      iteration += 1
      return http.attempt({
        endpoint: "/retrieve_future",
        body: jsonBody({ request_id: requestId, allow_metadata_only: allowMetadataOnly }),
        accept: future.acceptProto ? "application/x-protobuf, application/json" : "application/json",
        headers,
        timeoutMs: settings.pollTimeoutMs
      }, newIdempotencyKey())
    })

    // A reply other than 429 or 402. A lost connection or a 429 is polled again after the
    // backoff, which starts over after a 402 (or, as this effect ends, after any other reply).
    const reply = send.pipe(
      Effect.flatMap((outcome) =>
        outcome._tag === "Unreachable"
          ? http.unreachable(endpoint, outcome)
          : outcome.reply.status === 429
          ? Effect.fail(new TransientFailure({ message: "HTTP 429", status: 429 }))
          : Effect.succeed(outcome.reply)
      ),
      Effect.retry(pollingAgain(http.backoff, settings.retry.refusedTries)),
      Effect.tap((reply) => reply.status === 402 ? http.billingPause(endpoint, reply) : Effect.void),
      Effect.repeat({ while: (reply) => reply.status === 402 })
    )

    const noteQueueState = (tryAgain: TryAgainResponse | undefined) =>
      Effect.gen(function*() {
        const state = tryAgain?.queue_state
        if (state === undefined || state === queueState) return
        // The first "active" is the normal case, not news.
        if (queueState !== undefined || state !== "active") {
          const reason = tryAgain?.queue_state_reason
          yield* Effect.logInfo(`tinker: ${endpoint} queue is ${state}${reason === undefined ? "" : ` (${reason})`}`)
        }
        queueState = state
      })

    // A reply of a known kind in full, or a failure naming the request and what is wrong with it.
    const decoded = <S extends Schema.Top & { readonly DecodingServices: never }>(
      schema: S,
      json: unknown,
      then: (value: S["Type"]) => Effect.Effect<PollStep>
    ): Effect.Effect<PollStep> =>
      Schema.decodeUnknownEffect(schema)(json).pipe(
        Effect.matchEffect({
          onFailure: (error) =>
            Effect.succeed(failed(fail(
              "failed",
              `${endpoint}: polling the result of request ${requestId} got a malformed reply: ${error.message}`,
              { cause: maskedCause(error, http.scrub) }
            ))),
          onSuccess: then
        })
      )

    // A 200: the request is still on its way, or failed, or this is its result.
    const answer = (reply: HttpReply, json: unknown): Effect.Effect<PollStep> => {
      if (saysTryAgain(json)) return decoded(TryAgainResponse, json, (tryAgain) => Effect.as(noteQueueState(tryAgain), again))
      if (saysMetadataOnly(json)) {
        return decoded(CompleteMetadataResponse, json, () =>
          Effect.sync(() => {
            allowMetadataOnly = false
            return again
          }))
      }
      if (saysFailed(json)) {
        return decoded(RequestFailedResponse, json, ({ category, error }) =>
          Effect.succeed(failed(fail(category === "user" ? "invalid" : "failed", `${endpoint} failed: ${error}`))))
      }
      return Effect.succeed({ _tag: "Done", reply, json })
    }

    const judge = (reply: HttpReply): Effect.Effect<PollStep, TransientFailure> => {
      const status = reply.status
      const json = isProtobuf(reply) ? undefined : replyJson(reply)
      if (status === 200 || status === 408) {
        failingSince = undefined
        badRequests = 0
        return status === 200 ? answer(reply, json) : Effect.as(noteQueueState(Option.getOrUndefined(decodeTryAgain(json))), again)
      }
      if (status === 410) {
        return Effect.succeed(failed(fail("expired", `${endpoint}: the result of request ${requestId} expired (HTTP 410)`, { status })))
      }
      if (status >= 500) return Effect.fail(new TransientFailure({ message: `HTTP ${status}`, status }))
      if (status === 400 && !saysFailed(json) && badRequests < maxBadRequestRetries) {
        badRequests += 1
        return Effect.fail(new TransientFailure({ message: "a bare HTTP 400", status }))
      }
      const error = http.statusError(endpoint, reply)
      return Effect.succeed(failed(fail(
        error.kind === "auth" ? "auth" : "failed",
        `${error.message} (while fetching the result of request ${requestId})`,
        { status }
      )))
    }

    // Failed polls that are not a backoff's (5xx, a bare 400) are sent again at once. A
    // refusal gets here only once the backoff above has given up on it: so does this.
    const settled = yield* reply.pipe(
      Effect.flatMap(judge),
      Effect.retry(pollingAgain(Schedule.forever, 1)),
      Effect.repeat({ until: isSettled }),
      Effect.catchTag("TransientFailure", (last) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.fail(http.retriesEnded(
            endpoint,
            last,
            now - (failingSince ?? now),
            `${endpoint}: the result of request ${requestId} could not be fetched for ` +
              `${Math.round((now - (failingSince ?? now)) / 1000)} s (last: ${last.message})`
          )))),
      // The service's address is at fault, not the request, but which request was lost is news.
      Effect.mapError((error) =>
        error.kind === "unreachable"
          ? new TinkerRequestError({ ...error, message: `${error.message} (while fetching the result of request ${requestId})` })
          : error
      )
    )
    if (settled._tag === "Failed") return yield* settled.error
    return { reply: settled.reply, json: settled.json, retries }
  }).pipe(Effect.annotateLogs({ endpoint: future.endpoint, request_id: future.requestId }))
