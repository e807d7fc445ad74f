/**
 * `sous jobs serve`: the job service's HTTP server over a runs database. Beside the server it
 * runs, in its scope: the webhook watcher (a job whose run ended gets its event queued, once),
 * the webhook dispatcher, and unless told not to, a worker that trains the runs. Without the
 * worker, `sous worker` processes on the same database train them, and a job survives any of
 * them dying: it is a durable run.
 */
import * as http from "node:http"
import { join, resolve } from "node:path"
import { Cause, Duration, Effect, Exit, FiberSet, Layer, Schema, Scope } from "effect"
import { SqlClient } from "effect/sql"
import { fsBlobStoreLayer } from "../adapters/blob/fs-blob-store.js"
import { runsDatabaseLayers } from "../durable/database.js"
import { ensureRunTables, finalStates } from "../durable/run-store.js"
import { runWorker, type WorkerOptions } from "../durable/worker.js"
import { describeFailure } from "../ports/describe-error.js"
import { BlobStore } from "../ports/index.js"
import { ApiError, errorReply } from "./api-error.js"
import { makeRouter, type RouteAnswer } from "./jobs-routes.js"
import { endedJobsWithoutEvent, ensureJobTables } from "./jobs-store.js"
import { builtInModels, type ModelCatalog } from "./model-catalog.js"
import type { Tenants } from "./tenants.js"
import { enqueueWebhookEvent, ensureWebhookTables, runWebhookDispatcher, type WebhookDispatcherOptions } from "./webhooks/index.js"
import { sendReply } from "../server/http-reply.js"
import { listen } from "../server/listen.js"

/** How the job service runs. */
export interface JobsServerOptions {
  /** The runs database: a SQLite file or a `postgres://` URL. */
  readonly db: string
  /** Where uploaded files (`files/`) and jobs (`jobs/<id>/`) are kept. */
  readonly home: string
  readonly tenants: Tenants
  /** Base models by name (default {@link builtInModels}). */
  readonly catalog?: ModelCatalog | undefined
  readonly host?: string | undefined
  /** 0 for any free port (default 8080). */
  readonly port?: number | undefined
  /**
   * Train in this process (default true, with these options): one worker per SQLite file, so
   * with `false` the runs wait for a `sous worker` on the same database.
   */
  readonly worker?: boolean | WorkerOptions | undefined
  /** Largest JSON body (default 1 MiB). */
  readonly maxJsonBytes?: number | undefined
  /** Largest upload (default 64 MiB). */
  readonly maxFileBytes?: number | undefined
  /** How often a job's live stream reads its run (default 250 ms). */
  readonly streamPollMs?: number | undefined
  /** Webhook retry and timing settings (the endpoints come from the tenants). */
  readonly webhooks?: Omit<WebhookDispatcherOptions, "endpointOf"> | undefined
  /** How often ended jobs are looked for, to queue their webhook events (default 500 ms). */
  readonly watchEvery?: Duration.Input | undefined
}

/** A running job service. */
export interface RunningJobsServer {
  /** `http://<host>:<port>`; the OpenAI API is under `/v1`, the dashboard at `/`. */
  readonly url: string
  readonly port: number
  /** Stops the server, its worker and its webhook deliveries before the scope closes. */
  readonly close: Effect.Effect<void>
}

/** The job service could not start. */
export class JobsServeError extends Schema.TaggedError<JobsServeError>()("JobsServeError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

/**
 * Queues the `fine_tuning.job.<status>` event of every ended job of a tenant with a webhook,
 * once per job: a round reads only ended jobs without an event, and the outbox refuses a
 * second event of a job and type should two servers race. A tenant without a webhook gets no
 * events; once one is configured (and the server restarted), its jobs that ended before are
 * sent too.
 */
const watchEndedJobs = (tenants: Tenants, every: Duration.Input) => {
  const withWebhook = tenants.all().filter((tenant) => tenant.webhook !== undefined).map((tenant) => tenant.id)
  const round = Effect.gen(function*() {
    for (const { job, state } of yield* endedJobsWithoutEvent(withWebhook, finalStates)) {
      yield* enqueueWebhookEvent({ tenant: job.tenant, type: `fine_tuning.job.${state}`, subject: job.id })
    }
  })
  return round.pipe(
    Effect.catchCause((cause) => Effect.logError(`jobs: cannot queue webhook events: ${Cause.pretty(cause)}`)),
    Effect.andThen(Effect.sleep(every)),
    Effect.forever
  )
}

const internalError = (cause: unknown) =>
  new ApiError({ status: 500, message: "The server had an error; its log has the cause.", param: null, code: "internal_error", cause })

/**
 * Starts the job service (see {@link JobsServerOptions}); it runs until its scope closes or
 * `close` runs.
 */
export const startJobsServer = (options: JobsServerOptions) =>
  Effect.gen(function*() {
    const home = resolve(options.home)
    const scope = yield* Scope.fork(yield* Effect.scope)
    const database = runsDatabaseLayers(options.db)
    const services = yield* Layer.buildWithScope(
      Layer.merge(database.sql, fsBlobStoreLayer(join(home, "files"))),
      scope
    ).pipe(Effect.mapError((error) => new JobsServeError({ message: `cannot open ${database.printable} or ${home}: ${describeFailure(error)}`, cause: error })))
    const run = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient | BlobStore>) => Effect.provideContext(effect, services)

    yield* run(Effect.all([ensureRunTables, ensureJobTables, ensureWebhookTables], { discard: true })).pipe(
      Effect.mapError((error) => new JobsServeError({ message: `cannot create the tables in ${database.printable}: ${error.message}`, cause: error }))
    )

    if (options.worker !== false) {
      const workerOptions = options.worker === true || options.worker === undefined ? {} : options.worker
      yield* runWorker({ ...workerOptions, db: options.db }).pipe(
        Effect.catchCause((cause) => Effect.logError(`jobs: the worker stopped, so no job trains here: ${Cause.pretty(cause)}`)),
        Effect.forkIn(scope)
      )
    }
    yield* run(watchEndedJobs(options.tenants, options.watchEvery ?? Duration.millis(500))).pipe(Effect.forkIn(scope))
    yield* run(runWebhookDispatcher({ ...options.webhooks, endpointOf: (tenant) => options.tenants.byId(tenant)?.webhook })).pipe(
      Effect.catchCause((cause) => Effect.logError(`jobs: webhook deliveries stopped: ${Cause.pretty(cause)}`)),
      Effect.forkIn(scope)
    )

    const router = makeRouter({
      home,
      catalog: options.catalog ?? builtInModels,
      tenants: options.tenants,
      maxJsonBytes: options.maxJsonBytes ?? 1024 * 1024,
      maxFileBytes: options.maxFileBytes ?? 64 * 1024 * 1024,
      streamPollMs: options.streamPollMs ?? 250
    })

    const handle = (request: http.IncomingMessage, response: http.ServerResponse) =>
      Effect.gen(function*() {
        const url = new URL(request.url ?? "/", "http://localhost")
        const answer: RouteAnswer = yield* run(router(request, url.pathname, url.searchParams)).pipe(
          Effect.catchTag("SqlError", (error) => Effect.fail(internalError(error))),
          Effect.catchDefect((defect) => Effect.fail(internalError(defect))),
          // A 500's cause goes to the log, never to the client.
          Effect.catchTag("ApiError", (error) =>
            Effect.as(
              error.status >= 500 ? Effect.logError(`jobs: ${request.method} ${url.pathname}: ${error.message} ${describeFailure(error.cause)}`) : Effect.void,
              errorReply(error)
            ))
        )
        if ("stream" in answer) yield* Effect.promise(() => answer.stream(request, response))
        else sendReply(response, answer)
      })

    const runFork = yield* FiberSet.makeRuntime().pipe(Scope.provide(scope))
    const server = http.createServer((request, response) => {
      const fiber = runFork(handle(request, response))
      response.on("close", () => {
        if (!response.writableFinished) fiber.interruptUnsafe()
      })
    })
    // Last, so its finalizer runs first: no new requests and open ones (streams) cut, then the rest.
    const { url, port } = yield* listen(
      server,
      options.host ?? "127.0.0.1",
      options.port ?? 8080,
      scope,
      (message, cause) => new JobsServeError({ message, cause })
    )
    return { url, port, close: Scope.close(scope, Exit.void) } satisfies RunningJobsServer
  })
