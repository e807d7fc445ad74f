import { Clock, Deferred, Effect, Schedule, Schema, Scope } from "effect"
import { BackendUnavailableError, InvalidRequestError, TrainingError, type TrainingCallError } from "../../ports/index.js"
import { type FutureResult, pollFuture } from "./future-poller.js"
import { headerMillis, type RequestTiming } from "./request-timings.js"
import { maskedCause } from "../logging/redact-secrets.js"
import { giveUpAfter } from "./retry-schedule.js"
import { replyJson, type TinkerHttp, type TinkerRequest, TinkerRequestError } from "./tinker-http.js"
import { UntypedAPIFuture } from "../../protocol/index.js"

/** A request the service answers with a future: what to send and how to read its result. */
export interface RemoteCall<A> {
  readonly request: TinkerRequest
  /** `X-Tinker-Request-Type` of its polls (`ForwardBackward`, `OptimStep`, ...). */
  readonly requestType: string
  /** Ask for the result as protobuf (forward/backward outputs and samples). */
  readonly acceptProto: boolean
  readonly decode: (result: FutureResult) => Effect.Effect<A, TinkerRequestError>
}

/** A request on its way: its result, and where its time went (settled however it ends). */
export interface StartedCall<A> {
  readonly result: Effect.Effect<A, TinkerRequestError>
  readonly timing: Effect.Effect<RequestTiming>
}

/** Where requests run: the HTTP client, and the scope whose closing stops them. */
export interface RequestRunner {
  readonly http: TinkerHttp
  readonly scope: Scope.Scope
  /** False once the scope has closed: nothing can run there any more. */
  readonly isOpen: () => boolean
}

/**
 * Decodes a JSON reply with `schema`; a reply of another shape fails naming the endpoint
 * and what is wrong with it.
 */
export const decodeReply = <S extends Schema.Top>(
  schema: S,
  endpoint: string,
  json: unknown
): Effect.Effect<S["Type"], TinkerRequestError, S["DecodingServices"]> =>
  Schema.decodeUnknownEffect(schema)(json).pipe(
    Effect.mapError((error) =>
      new TinkerRequestError({
        endpoint,
        kind: "failed",
        message: `${endpoint} answered something unexpected: ${error.message}`,
        cause: error
      })
    )
  )

/** A {@link RequestTiming} being added up while its request runs. */
type TimingTally = { -readonly [K in keyof RequestTiming]: RequestTiming[K] }

/**
 * Submits a request and polls its future until the result is there. A result that expired
 * (410) is submitted again with the same body (so the same `seq_id`) under a new
 * idempotency key, for as long as the retry budget (`giveUpAfterMs`) lasts. A count would not
 * do: a batch of hundreds of requests in flight meets a run of expiries somewhere.
 */
const runCall = <A>(
  http: TinkerHttp,
  call: RemoteCall<A>,
  timing: TimingTally
): Effect.Effect<A, TinkerRequestError> =>
  Effect.gen(function*() {
    const endpoint = call.request.endpoint
    const { retry } = http.settings
    const startedAt = yield* Clock.currentTimeMillis
    // The future of the latest submission, for the message when results keep expiring.
    let requestId = ""
    // A first expiry is resubmitted at once; a run of them backs off like any retry.
    const resubmitting = Schedule.concat(Schedule.recurs(1), http.backoff).pipe(
      Schedule.setInputType<TinkerRequestError>(),
      Schedule.while(({ input }) => input.kind === "expired"),
      giveUpAfter(retry.giveUpAfterMs, () => startedAt),
      Schedule.tap(() =>
        Effect.sync(() => {
          timing.retries += 1
        })
      )
    )

    const submitAndPoll = Effect.gen(function*() {
      const submittedAt = yield* Clock.currentTimeMillis
      const submitted = yield* http.submit(call.request)
      const acceptedAt = yield* Clock.currentTimeMillis
      timing.submitMs += acceptedAt - submittedAt
      timing.retries += submitted.retries
      const future = yield* decodeReply(UntypedAPIFuture, endpoint, replyJson(submitted.reply))
      requestId = future.request_id
      return yield* pollFuture(http, {
        requestId,
        endpoint,
        requestType: call.requestType,
        acceptProto: call.acceptProto,
        submitMs: acceptedAt - submittedAt
      }).pipe(
        Effect.ensuring(Effect.map(Clock.currentTimeMillis, (now) => {
          timing.waitMs += now - acceptedAt
        })),
        Effect.tapError((error) =>
          error.kind === "expired"
            ? Effect.logWarning(`tinker: ${error.message}; submitting the request again`).pipe(
              Effect.annotateLogs({ endpoint, request_id: requestId })
            )
            : Effect.void
        )
      )
    })

    const polled = yield* submitAndPoll.pipe(
      Effect.retry(resubmitting),
      Effect.catchIf(
        (error) => error.kind === "expired",
        (error) =>
          Effect.fail(
            new TinkerRequestError({
              endpoint,
              kind: "expired",
              message: `${endpoint}: results kept expiring for ${retry.giveUpAfterMs} ms of resubmissions (request ${requestId})`,
              cause: error
            })
          )
      )
    )
    timing.retries += polled.retries
    const queueMs = headerMillis(polled.reply.headers, "x-sous-queue-ms")
    const computeMs = headerMillis(polled.reply.headers, "x-sous-compute-ms")
    if (queueMs !== undefined) timing.queueMs = queueMs
    if (computeMs !== undefined) timing.computeMs = computeMs
    // A result of an unexpected shape is quoted in the error: keep an echoed key out of it.
    return yield* call.decode(polled).pipe(
      Effect.mapError((error) =>
        new TinkerRequestError({
          ...error,
          message: http.scrub(error.message),
          cause: error.cause === undefined ? undefined : maskedCause(error.cause, http.scrub)
        })
      )
    )
  })

/**
 * Starts a request in the runner's scope and returns at once: the caller does not wait for
 * the HTTP round trip, so a loop can queue its next requests behind this one. The request
 * runs (and is serialized) right away, up to its first wait on the network.
 */
export const startCall = <A>(runner: RequestRunner, call: RemoteCall<A>): Effect.Effect<StartedCall<A>> =>
  Effect.gen(function*() {
    if (!runner.isOpen()) {
      const closed = new TinkerRequestError({
        endpoint: call.request.endpoint,
        kind: "failed",
        message: `${call.request.endpoint} was not sent: the tinker backend has been closed (its scope ended)`
      })
      return { result: Effect.fail(closed), timing: Effect.succeed({ submitMs: 0, waitMs: 0, retries: 0 }) }
    }
    const result = yield* Deferred.make<A, TinkerRequestError>()
    const timingDone = yield* Deferred.make<RequestTiming>()
    const timing: TimingTally = { submitMs: 0, waitMs: 0, retries: 0 }
    yield* runCall(runner.http, call, timing).pipe(
      Deferred.into(result),
      Effect.ensuring(Effect.suspend(() => Deferred.succeed(timingDone, { ...timing }))),
      // Started at once so the request is under way (and its result settled, even by an
      // interruption) before the caller moves on.
      Effect.forkIn(runner.scope, { startImmediately: true })
    )
    return { result: Deferred.await(result), timing: Deferred.await(timingDone) }
  })

/** Runs a call and waits for its result: for requests nothing is queued behind (creating a model). */
export const awaitCall = <A>(runner: RequestRunner, call: RemoteCall<A>): Effect.Effect<A, TinkerRequestError> =>
  Effect.flatMap(startCall(runner, call), (started) => started.result)

/**
 * The port error a failed request becomes for `operation`. A request that failed in passing
 * is worth making again only if `repeatable`: a sampling call is, but a training call holds a
 * place in its model's `seq_id` order, so after a lost submission the server waits on the
 * hole, and after an expired result the call (and the ones queued behind it) may have been
 * applied: a stage retry would then apply them twice. An unreachable service is not retried:
 * the point of giving up on it early is to say so at once rather than after stage retries.
 */
export const callError = (operation: string, repeatable: boolean) => (error: TinkerRequestError): TrainingCallError => {
  switch (error.kind) {
    case "invalid":
      return new InvalidRequestError({ operation, message: error.message, cause: error })
    case "transient":
    case "expired":
      return new TrainingError({ operation, message: error.message, retryable: repeatable, cause: error })
    case "auth":
    case "unreachable":
    case "failed":
      return new TrainingError({ operation, message: error.message, retryable: false, cause: error })
  }
}

/**
 * The error a failed request of `operation` becomes while creating a client: as
 * {@link callError}, except that a refused key or an unreachable service makes the backend
 * unavailable.
 */
export const creationError = (operation: string) => (error: TinkerRequestError): TrainingCallError | BackendUnavailableError =>
  error.kind === "auth" || error.kind === "unreachable"
    ? new BackendUnavailableError({ backend: "tinker", message: error.message, cause: error })
    : callError(operation, true)(error)
