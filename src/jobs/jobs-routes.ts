/**
 * The job service's HTTP routes: OpenAI's files and fine-tuning paths under `/v1`, sous's
 * own under `/v1/sous` (a job's live stream, the tenant's webhook events and their replay),
 * and the dashboard at `/`. Every `/v1` route needs `Authorization: Bearer <key>` and sees
 * only that key's tenant's things.
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import { Effect, Schema } from "effect"
import type { SqlClient, SqlError } from "effect/sql"
import { runStatusRow } from "../durable/runs.js"
import type { BlobStore } from "../ports/index.js"
import { jsonReply, type Reply } from "../server/http-reply.js"
import { ApiError, invalidRequest } from "./api-error.js"
import { dashboardAsset, dashboardPage, dashboardPageContentType, streamJob } from "./dashboard/index.js"
import { CreateJobRequest } from "./job-request.js"
import {
  cancelJob,
  createJob,
  fileContent,
  fileObject,
  getFile,
  getJob,
  type JobServiceConfig,
  listJobCheckpoints,
  listJobEvents,
  listJobs,
  pauseJob,
  resumeJob,
  retrieveJob,
  uploadFile
} from "./job-service.js"
import { listFiles } from "./jobs-store.js"
import { jsonBody, multipartUpload, paging } from "./request-input.js"
import type { Tenants } from "./tenants.js"
import { listWebhookEvents, replayDeadLetter, type WebhookEventRow, WebhookEventStatus } from "./webhooks/index.js"

/** What a route answers: a reply built in full, or a stream written to the response. */
export type RouteAnswer = Reply | { readonly stream: (request: IncomingMessage, response: ServerResponse) => Promise<void> }

/** The limits and settings the routes need. */
export interface RoutesConfig extends JobServiceConfig {
  readonly tenants: Tenants
  /** Largest JSON body, in bytes. */
  readonly maxJsonBytes: number
  /** Largest upload, in bytes. */
  readonly maxFileBytes: number
  /** How often a job's live stream reads its run, in ms. */
  readonly streamPollMs: number
}

type Handler = (
  request: IncomingMessage,
  tenant: string,
  match: ReadonlyArray<string>,
  query: URLSearchParams
) => Effect.Effect<RouteAnswer, ApiError | SqlError.SqlError, SqlClient.SqlClient | BlobStore>

const routes = (config: RoutesConfig): ReadonlyArray<readonly [string, RegExp, Handler]> => {
  const job = "/v1/fine_tuning/jobs/([^/]+)"
  const reply = <E, R>(effect: Effect.Effect<unknown, E, R>) => Effect.map(effect, (body) => jsonReply(body))
  const decodeStatus = Schema.decodeUnknownOption(WebhookEventStatus)
  return [
    ["POST", /^\/v1\/files$/, (request, tenant) =>
      reply(Effect.flatMap(multipartUpload(request, config.maxFileBytes), (upload) => uploadFile(tenant, upload)))],
    ["GET", /^\/v1\/files$/, (_, tenant) =>
      reply(Effect.map(listFiles(tenant), (files) => ({ object: "list", data: files.map(fileObject), has_more: false })))],
    ["GET", /^\/v1\/files\/([^/]+)$/, (_, tenant, [id]) => reply(Effect.map(getFile(tenant, id!), fileObject))],
    ["GET", /^\/v1\/files\/([^/]+)\/content$/, (_, tenant, [id]) =>
      Effect.map(fileContent(tenant, id!), (body): Reply => ({ status: 200, headers: { "content-type": "application/jsonl" }, body }))],
    ["POST", /^\/v1\/fine_tuning\/jobs$/, (request, tenant) =>
      reply(Effect.flatMap(jsonBody(request, CreateJobRequest, config.maxJsonBytes), (body) => createJob(tenant, body, config)))],
    ["GET", /^\/v1\/fine_tuning\/jobs$/, (_, tenant, __, query) => reply(Effect.flatMap(paging(query), (page) => listJobs(tenant, page)))],
    ["GET", new RegExp(`^${job}$`), (_, tenant, [id]) => reply(retrieveJob(tenant, id!))],
    ["GET", new RegExp(`^${job}/events$`), (_, tenant, [id], query) =>
      reply(Effect.flatMap(paging(query), (page) => listJobEvents(tenant, id!, page)))],
    ["GET", new RegExp(`^${job}/checkpoints$`), (_, tenant, [id], query) =>
      reply(Effect.flatMap(paging(query), (page) => listJobCheckpoints(tenant, id!, page)))],
    ["POST", new RegExp(`^${job}/cancel$`), (_, tenant, [id]) => reply(cancelJob(tenant, id!))],
    ["POST", new RegExp(`^${job}/pause$`), (_, tenant, [id]) => reply(pauseJob(tenant, id!))],
    ["POST", new RegExp(`^${job}/resume$`), (_, tenant, [id]) => reply(resumeJob(tenant, id!))],
    ["GET", /^\/v1\/sous\/jobs\/([^/]+)\/stream$/, (_, tenant, [id]) =>
      Effect.gen(function*() {
        const row = yield* getJob(tenant, id!)
        const run = yield* runStatusRow(row.run_id).pipe(Effect.orDie)
        const services = yield* Effect.context<SqlClient.SqlClient | BlobStore>()
        const job = () => Effect.runPromiseWith(services)(retrieveJob(tenant, row.id))
        return {
          stream: (request: IncomingMessage, response: ServerResponse) =>
            streamJob(request, response, { runDir: run.run_dir, job }, { pollMs: config.streamPollMs })
        }
      })],
    ["GET", /^\/v1\/sous\/webhook_events$/, (_, tenant, __, query) =>
      Effect.gen(function*() {
        const text = query.get("status")
        const status = text === null ? undefined : decodeStatus(text)
        if (status !== undefined && status._tag === "None") {
          return yield* invalidRequest(`status must be pending, delivered or dead, got '${text}'`, "status")
        }
        const events = yield* listWebhookEvents({ tenant, status: status?.value })
        return jsonReply({ object: "list", data: events.map(webhookEventObject), has_more: false })
      })],
    ["POST", /^\/v1\/sous\/webhook_events\/([^/]+)\/replay$/, (_, tenant, [id]) =>
      Effect.gen(function*() {
        yield* replayDeadLetter(id!, tenant).pipe(
          Effect.catchTag("WebhookEventNotFound", () =>
            Effect.fail(new ApiError({ status: 404, message: `No dead webhook event found with id '${id}'.`, param: null, code: "not_found" })))
        )
        return jsonReply({ id, replayed: true })
      })]
  ]
}

/** A webhook event as the API lists it (the body sent, and how its delivery went). */
const webhookEventObject = (row: WebhookEventRow) => ({
  object: "webhook_event",
  id: row.id,
  type: row.type,
  subject: row.subject,
  status: row.status,
  attempts: row.attempts,
  last_error: row.last_error,
  created_at: Math.floor(row.created_at / 1000),
  delivered_at: row.delivered_at === null ? null : Math.floor(row.delivered_at / 1000),
  payload: JSON.parse(row.payload) as unknown
})

const bearer = (request: IncomingMessage): string | undefined => {
  const header = request.headers.authorization
  const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header)
  return match?.[1]
}

const unauthorized = (message: string) => new ApiError({ status: 401, message, param: null, code: "invalid_api_key" })

/**
 * The router: answers a request by its method and path. The dashboard's page and assets
 * need no key; everything else does.
 */
export const makeRouter = (config: RoutesConfig) => {
  const table = routes(config)
  return (request: IncomingMessage, pathname: string, query: URLSearchParams) =>
    Effect.gen(function*() {
      const method = request.method ?? "GET"
      if (method === "GET" && pathname === "/") {
        return { status: 200, headers: { "content-type": dashboardPageContentType }, body: new TextEncoder().encode(dashboardPage()) } satisfies Reply
      }
      const asset = method === "GET" && pathname.startsWith("/assets/") ? dashboardAsset(pathname.slice("/assets/".length)) : undefined
      if (asset !== undefined) return { status: 200, headers: { "content-type": asset.contentType }, body: asset.body } satisfies Reply
      const matching = table.flatMap(([routeMethod, pattern, handler]) => {
        const match = pattern.exec(pathname)
        return match === null ? [] : [{ routeMethod, handler, groups: match.slice(1) }]
      })
      if (matching.length === 0) {
        return yield* new ApiError({ status: 404, message: `Unknown request URL: ${method} ${pathname}.`, param: null, code: "unknown_url" })
      }
      const route = matching.find((entry) => entry.routeMethod === method)
      if (route === undefined) {
        return yield* new ApiError({ status: 405, message: `${method} is not allowed on ${pathname}.`, param: null, code: "method_not_allowed" })
      }
      const key = bearer(request)
      if (key === undefined) return yield* unauthorized("You didn't provide an API key: send it as Authorization: Bearer <key>.")
      const tenant = config.tenants.byKey(key)
      if (tenant === undefined) return yield* unauthorized("Incorrect API key provided.")
      const ids = yield* Effect.try({
        try: () => route.groups.map(decodeURIComponent),
        catch: () => invalidRequest(`the path ${pathname} has a malformed %-escape`)
      })
      return yield* route.handler(request, tenant.id, ids, query)
    })
}
