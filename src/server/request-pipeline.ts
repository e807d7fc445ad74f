import type { IncomingMessage } from "node:http"
import { Cause, Effect } from "effect"
import { makeApiKeyCheck } from "./auth.js"
import type { FaultDecision, FaultPlan } from "./fault-injection.js"
import { failureReply, HttpFailure, jsonReply, type Reply } from "./http-reply.js"
import type { IdempotencyCache } from "./idempotency-cache.js"
import { decodeContent, readBody, requireMediaType } from "./request-body.js"
import { tryAgainReply } from "./routes/index.js"
import type { ResolvedServerOptions } from "./server-options.js"
import type { Route, RouteRequest } from "./server-state.js"
import type { ServerStats } from "./server-stats.js"

/** Where every route lives. */
export const apiPrefix = "/api/v1"

/** What to do with a request: send a reply, or drop the connection (an injected fault). */
export interface Answer {
  readonly reply: Reply | undefined
  readonly fault: FaultDecision | undefined
  /** Whether to hold the answer back by the injected latency (not for `/healthz`). */
  readonly delayed: boolean
}

/** What the pipeline needs from the server. */
export interface PipelineContext {
  readonly options: ResolvedServerOptions
  readonly routes: ReadonlyMap<string, Route>
  readonly idempotency: IdempotencyCache
  readonly faults: FaultPlan
  readonly stats: ServerStats
}

// The request id a poll names, for the try-again a 408 fault answers it with; read leniently,
// as the fault comes whatever the body holds.
const polledRequestId = (body: Uint8Array): string => {
  try {
    const parsed: unknown = JSON.parse(new TextDecoder().decode(body))
    const id = typeof parsed === "object" && parsed !== null ? (parsed as { request_id?: unknown }).request_id : undefined
    return typeof id === "string" ? id : ""
  } catch {
    return ""
  }
}

/**
 * The route for `<method> <path>` (the path under {@link apiPrefix}) and its parameter: an
 * exact route, else one whose path ends in `/*` standing for a last segment (the SDK's reads
 * of one thing put its id in the path, as `GET /samplers/<id>`).
 */
const findRoute = (
  routes: ReadonlyMap<string, Route>,
  method: string | undefined,
  path: string
): { readonly route: Route; readonly parameter: string | undefined } | undefined => {
  const exact = routes.get(`${method} ${path}`)
  if (exact !== undefined) return { route: exact, parameter: undefined }
  const slash = path.lastIndexOf("/")
  if (slash <= 0 || slash === path.length - 1) return undefined
  const route = routes.get(`${method} ${path.slice(0, slash)}/*`)
  return route === undefined ? undefined : { route, parameter: path.slice(slash + 1) }
}

/** The reply an injected fault sends instead of the real one (none for a dropped connection). */
const faultReply = (fault: FaultDecision, route: Route, body: Uint8Array): Reply | undefined => {
  switch (fault.kind) {
    case "503":
      return jsonReply({ error: "injected fault: the server is unavailable, try again" }, 503)
    case "429":
      return jsonReply({ error: "injected fault: too many requests, try again later" }, 429, { "retry-after-ms": "50" })
    case "408":
      return route.kind === "poll"
        ? tryAgainReply(polledRequestId(body), 408)
        : jsonReply({ error: "injected fault: the request timed out, try again" }, 408)
    case "410":
      return jsonReply({ error: "injected fault: the result has expired; submit the request again" }, 410)
    case "drop":
      return undefined
  }
}

/**
 * Answers one request: the API key (401), the route (404), the body (415, 413, and 400 from
 * the handler), then the handler. A submission with an `X-Idempotency-Key` seen before gets
 * the first answer again; a submission runs to its end even if its client goes away, since
 * it may already have been applied. Injected faults come before the handler (nothing is
 * applied) or, for submissions, after it (applied, and the answer lost).
 */
export const makePipeline = (context: PipelineContext) => {
  const { options, routes, idempotency, faults, stats } = context
  const checkKey = makeApiKeyCheck(options.apiKey)
  let ordinal = 0

  const run = (route: Route, request: RouteRequest): Effect.Effect<Reply> =>
    route.handle(request).pipe(
      Effect.catchTag("HttpFailure", (failure) => Effect.succeed(failureReply(failure))),
      Effect.catchCause((cause) =>
        Effect.logError("sous serve: a request failed unexpectedly", Cause.pretty(cause)).pipe(
          Effect.as(jsonReply({ error: "internal server error" }, 500))
        )
      )
    )

  const runOnce = (route: Route, request: RouteRequest): Effect.Effect<Reply> => {
    const key = request.message.headers["x-idempotency-key"]
    if (route.kind !== "submission") return run(route, request)
    if (typeof key !== "string" || key === "") return Effect.uninterruptible(run(route, request))
    // Claimed and settled in one uninterruptible region: a client hanging up in between
    // would leave a claim nobody settles, and every retry of the key waiting on it for ever.
    return Effect.uninterruptibleMask((restore) =>
      Effect.suspend(() => {
        const claim = idempotency.claim(`${route.path}\n${key}`)
        if (claim._tag === "Replay") return restore(claim.reply)
        return Effect.tap(run(route, request), (reply) => Effect.sync(() => claim.settle(reply)))
      })
    )
  }

  const answer = (message: IncomingMessage, path: string, arrivedAt: number): Effect.Effect<Answer> =>
    Effect.gen(function*() {
      const found = path.startsWith(`${apiPrefix}/`) ? findRoute(routes, message.method, path.slice(apiPrefix.length)) : undefined
      const route = found?.route
      const pathParameter = found?.parameter
      if (route?.kind === "public") {
        return { reply: yield* run(route, { message, body: new Uint8Array(), arrivedAt, pathParameter }), fault: undefined, delayed: false }
      }
      const refused = (failure: HttpFailure): Answer => ({ reply: failureReply(failure), fault: undefined, delayed: true })
      const keyProblem = checkKey(message.headers)
      if (keyProblem !== undefined) return refused(new HttpFailure({ status: 401, message: keyProblem }))
      if (route === undefined) return refused(new HttpFailure({ status: 404, message: `no route ${message.method} ${path}` }))
      const turn = ordinal
      ordinal += 1
      const body = yield* Effect.gen(function*() {
        if (route.body === undefined) return new Uint8Array()
        yield* requireMediaType(message, route.body)
        const sent = yield* readBody(message, options.maxBodyBytes)
        return yield* decodeContent(message, sent, options.maxDecompressedBytes)
      }).pipe(Effect.result)
      if (body._tag === "Failure") return refused(body.failure)
      const fault = faults.decide(turn, { poll: route.kind === "poll", submission: route.kind === "submission" })
      if (fault !== undefined) stats.faultInjected(fault.kind)
      if (fault?.timing === "before") return { reply: faultReply(fault, route, body.success), fault, delayed: true }
      const reply = yield* runOnce(route, { message, body: body.success, arrivedAt, pathParameter })
      if (fault?.timing === "after") return { reply: faultReply(fault, route, body.success), fault, delayed: true }
      return { reply, fault: undefined, delayed: true }
    })

  return { answer }
}
