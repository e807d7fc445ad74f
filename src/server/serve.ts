import * as fs from "node:fs/promises"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Exit, FiberSet, Schema, Scope } from "effect"
import { messageOf } from "../ports/thrown-message.js"
import { TrainingBackend } from "../ports/index.js"
import { sweepExpired, sweepIntervalMs } from "./expiry.js"
import { makeFaultPlan } from "./fault-injection.js"
import { makeFutureStore } from "./future-store.js"
import { sendReply } from "./http-reply.js"
import { makeIdempotencyCache } from "./idempotency-cache.js"
import { listen } from "./listen.js"
import { type Answer, makePipeline } from "./request-pipeline.js"
import { makeCheckpointCatalog } from "./routes/checkpoint-catalog.js"
import { routeTable } from "./routes/index.js"
import { makeResourceBudget } from "./resource-budget.js"
import { makeSamplerWeights } from "./sampler-weights.js"
import { makeSamplingSessions } from "./sampling-sessions.js"
import { makeServerInstance } from "./server-instance.js"
import { type RequestLogEntry, resolveServerOptions, type ServerOptions } from "./server-options.js"
import type { ServerState } from "./server-state.js"
import { makeServerStats, type ServerStatsSnapshot } from "./server-stats.js"
import { makeWeightStore } from "./weight-store.js"

/** The server could not start: a bad option, or the port is taken. */
export class ServeError extends Schema.TaggedError<ServeError>()("ServeError", {
  message: Schema.String,
  /** What went wrong underneath (a file system or socket error), for `--verbose`. */
  cause: Schema.optional(Schema.Defect())
}) {}

/** A running server. */
export interface RunningServer {
  /** Base URL, `http://<host>:<port>` (the API is under `/api/v1`). */
  readonly url: string
  readonly port: number
  /** What the server has done so far: optimizer steps applied, requests seen, faults injected. */
  readonly stats: () => ServerStatsSnapshot
  /** Stops the server before its scope closes: connections are cut and pending work stops. */
  readonly close: Effect.Effect<void>
}

// Idempotency keys remembered at once for each API key; a client has far fewer requests in flight.
const idempotencyCapacity = 100_000

/** The directory saved weights go to: the given one, or a temporary one removed on close. */
const stateDirectory = (stateDir: string | undefined, scope: Scope.Scope): Effect.Effect<string, ServeError> =>
  stateDir !== undefined
    ? Effect.tryPromise({
      try: async () => {
        await fs.mkdir(stateDir, { recursive: true })
        return stateDir
      },
      catch: (error) => new ServeError({ message: `cannot use stateDir ${stateDir}: ${messageOf(error)}`, cause: error })
    })
    : Effect.acquireRelease(
      Effect.tryPromise({
        try: () => fs.mkdtemp(path.join(os.tmpdir(), "sous-serve-")),
        catch: (error) => new ServeError({ message: `cannot create a temporary state directory: ${messageOf(error)}`, cause: error })
      }),
      (directory) => Effect.promise(() => fs.rm(directory, { recursive: true, force: true }))
    ).pipe(Scope.provide(scope))

/** Sends an answer, unless the client has gone; a drop fault cuts the connection instead. */
const send = (response: http.ServerResponse, answer: Answer): number => {
  if (answer.reply === undefined) {
    response.socket?.destroy()
    return 0
  }
  sendReply(response, answer.reply)
  return answer.reply.status
}

/**
 * Starts `sous serve`'s HTTP server: the `TrainingBackend` in context, over the Tinker
 * protocol (paths under `/api/v1`). It listens until its scope closes (or `close` runs);
 * saved weights are files under `stateDir`. See {@link ServerOptions} for the settings.
 */
export const startServer = Effect.fn("Server.start")(function*(
  options: ServerOptions
): Effect.fn.Return<RunningServer, ServeError, TrainingBackend | Scope.Scope> {
  const refused = (error: unknown) => new ServeError({ message: messageOf(error), cause: error })
  const resolved = yield* Effect.try({ try: () => resolveServerOptions(options), catch: refused })
  const faults = yield* Effect.try({ try: () => makeFaultPlan(options.faults), catch: refused })
  const backend = yield* TrainingBackend
  const scope = yield* Scope.fork(yield* Effect.scope)
  const stateDir = yield* stateDirectory(options.stateDir, scope)

  const stats = makeServerStats()
  const weights = makeWeightStore(stateDir)
  const budget = makeResourceBudget(resolved.memoryBudgetBytes)
  const instance = makeServerInstance()
  const samplerWeights = yield* makeSamplerWeights(stateDir, instance.id).pipe(Scope.provide(scope))
  const state: ServerState = {
    options: resolved,
    backend,
    scope,
    instance,
    // A training result nobody retrieves is kept at most as long as an idle model.
    futures: makeFutureStore(resolved.futureTtlMs, Date.now, { instance, unretrievedMs: Math.max(resolved.futureTtlMs, resolved.idleTtlMs) }),
    weights,
    samplers: makeSamplingSessions(scope, budget),
    samplerWeights,
    stats,
    budget,
    sessions: new Map(),
    models: new Map(),
    modelRequests: new Map(),
    samplerSources: new Map(),
    checkpoints: makeCheckpointCatalog(stateDir, weights)
  }
  const idempotency = makeIdempotencyCache(resolved.futureTtlMs, idempotencyCapacity)
  const pipeline = makePipeline({
    options: resolved,
    routes: routeTable(state),
    idempotency,
    faults,
    stats,
    keptFuture: state.futures.kept
  })

  // Expired results are dropped as they are polled; this frees those nobody polls again,
  // replayable answers, and models, samplers and sessions nobody uses any more.
  yield* Effect.sleep(sweepIntervalMs(state)).pipe(
    Effect.andThen(Effect.suspend(() => {
      idempotency.sweep()
      return sweepExpired(state, Date.now())
    })),
    // One failed pass (a file that cannot be removed) must not end expiry for good.
    Effect.catchCause((cause) => Effect.logError("sous serve: a sweep of expired state failed; the next one tries again", cause)),
    Effect.forever,
    Effect.forkIn(scope)
  )

  const log = (entry: RequestLogEntry): Effect.Effect<void> =>
    options.log !== undefined
      ? Effect.sync(() => options.log?.(entry))
      : Effect.logDebug(`sous serve: ${entry.method} ${entry.path} ${entry.status} ${entry.ms}ms${entry.fault === undefined ? "" : ` (fault ${entry.fault} ${entry.faultTiming})`}`)

  const handle = (request: http.IncomingMessage, response: http.ServerResponse) => {
    const started = performance.now()
    // The path alone is logged: a query string is the client's business.
    const pathname = new URL(request.url ?? "/", "http://localhost").pathname
    const entry = (status: number) => ({ method: request.method ?? "GET", path: pathname, status, ms: Math.round(performance.now() - started) })
    return Effect.gen(function*() {
      stats.requestSeen()
      const answer = yield* pipeline.answer(request, pathname, Date.now())
      if (answer.delayed && faults.latencyMs > 0) yield* Effect.sleep(faults.latencyMs)
      const status = send(response, answer)
      yield* log({
        ...entry(status),
        ...(answer.fault === undefined ? {} : { fault: answer.fault.kind, faultTiming: answer.fault.timing })
      })
    }).pipe(
      // 499, as nginx logs it: the client closed the connection before it was answered.
      Effect.onInterrupt(() => log(entry(499)))
    )
  }

  const runFork = yield* FiberSet.makeRuntime().pipe(Scope.provide(scope))
  const server = http.createServer((request, response) => {
    const fiber = runFork(handle(request, response))
    // A client that hangs up stops its long poll; submissions finish regardless (uninterruptible).
    response.on("close", () => {
      if (!response.writableFinished) fiber.interruptUnsafe()
    })
  })
  // Last, so its finalizer runs first: no new requests, open connections cut, then the rest stops.
  const { url, port } = yield* listen(server, resolved.host, resolved.port, scope, (message, cause) => new ServeError({ message, cause }))
  return {
    url,
    port,
    stats: () => ({ ...stats.snapshot(), samplingSessions: state.samplers.size(), models: state.models.size, memoryBytes: budget.totalBytes() }),
    close: Scope.close(scope, Exit.void)
  }
})
