import type { IncomingMessage } from "node:http"
import { Cause, Effect } from "effect"
import type { Tenant } from "./api-keys.js"
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
  /** Whether a request id is a result kept until retrieved, for the owner (a key's name): such a poll is never hit by a 410. */
  readonly keptFuture: (requestId: string, owner: string) => boolean
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

// The `{name}` segments of `template` as `path` gives them, decoded; undefined unless the
// other segments are equal (and every parameter is one non-empty, well-escaped segment).
const templateParameters = (template: string, path: string): Record<string, string> | undefined => {
  const wanted = template.split("/")
  const sent = path.split("/")
  if (wanted.length !== sent.length) return undefined
  const parameters: Record<string, string> = {}
  for (const [index, segment] of wanted.entries()) {
    const given = sent[index]!
    if (!(segment.startsWith("{") && segment.endsWith("}"))) {
      if (segment !== given) return undefined
      continue
    }
    if (given === "") return undefined
    try {
      parameters[segment.slice(1, -1)] = decodeURIComponent(given)
    } catch {
      return undefined
    }
  }
  return parameters
}

/** A route found for a request, with what its path gave it. */
interface FoundRoute {
  readonly route: Route
  /** The last segment, for a route ending in `/*`. */
  readonly parameter: string | undefined
  /** The `{name}` segments, for a route that has them. */
  readonly parameters: Readonly<Record<string, string>>
}

/**
 * The route for `<method> <path>` (the path under {@link apiPrefix}) and its parameters: an
 * exact route, else one with `{name}` segments (the REST API's `/training_runs/{id}/…`; the
 * SDK puts ids into paths unescaped), else one whose path ends in `/*` standing for a last
 * segment (the SDK's reads of one thing put its id in the path, as `GET /samplers/<id>`).
 */
const findRoute = (
  routes: ReadonlyMap<string, Route>,
  method: string | undefined,
  path: string
): FoundRoute | undefined => {
  const exact = routes.get(`${method} ${path}`)
  if (exact !== undefined && !exact.path.includes("{")) return { route: exact, parameter: undefined, parameters: {} }
  for (const route of routes.values()) {
    if (route.method !== method || !route.path.includes("{")) continue
    const parameters = templateParameters(route.path, path)
    if (parameters !== undefined) return { route, parameter: undefined, parameters }
  }
  const slash = path.lastIndexOf("/")
  if (slash <= 0 || slash === path.length - 1) return undefined
  const route = routes.get(`${method} ${path.slice(0, slash)}/*`)
  return route === undefined ? undefined : { route, parameter: path.slice(slash + 1), parameters: {} }
}

// Public routes run before any key is checked: `/healthz` touches nothing a key owns, and the
// checkpoint archive download reads only what its signed link grants.
const anonymous: Tenant = { name: "", quota: { maxModels: 0, maxSamplers: 0, memoryBytes: 0 } }

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
  const { options, routes, idempotency, faults, stats, keptFuture } = context
  const checkKey = makeApiKeyCheck(options.keys)
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

  const runOnce = (route: Route, path: string, request: RouteRequest): Effect.Effect<Reply> => {
    const key = request.message.headers["x-idempotency-key"]
    if (route.kind !== "submission") return run(route, request)
    if (typeof key !== "string" || key === "") return Effect.uninterruptible(run(route, request))
    // Claimed and settled in one uninterruptible region: a client hanging up in between
    // would leave a claim nobody settles, and every retry of the key waiting on it for ever.
    return Effect.uninterruptibleMask((restore) =>
      Effect.suspend(() => {
        // Per key: another client's idempotency key must neither replay to nor block this one.
        // By the path as sent: one route's parameters (`{id}`) name different things.
        const claim = idempotency.claim(request.tenant.name, `${path}\n${key}`)
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
      const pathParameters = found?.parameters ?? {}
      if (route?.kind === "public") {
        const request = { message, tenant: anonymous, body: new Uint8Array(), arrivedAt, pathParameter, pathParameters }
        return { reply: yield* run(route, request), fault: undefined, delayed: false }
      }
      const refused = (failure: HttpFailure): Answer => ({ reply: failureReply(failure), fault: undefined, delayed: true })
      const caller = checkKey(message.headers)
      if (typeof caller === "string") return refused(new HttpFailure({ status: 401, message: caller }))
      const { tenant } = caller
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
      const poll = route.kind === "poll"
      const kept = poll && keptFuture(polledRequestId(body.success), tenant.name)
      const fault = faults.decide(turn, { poll, submission: route.kind === "submission", kept })
      if (fault !== undefined) stats.faultInjected(fault.kind)
      if (fault?.timing === "before") return { reply: faultReply(fault, route, body.success), fault, delayed: true }
      const reply = yield* runOnce(route, path, { message, tenant, body: body.success, arrivedAt, pathParameter, pathParameters })
      if (fault?.timing === "after") return { reply: faultReply(fault, route, body.success), fault, delayed: true }
      return { reply, fault: undefined, delayed: true }
    })

  return { answer }
}
