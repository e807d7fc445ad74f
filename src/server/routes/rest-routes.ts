import { Effect, Schema } from "effect"
import { maxTtlSeconds } from "../checkpoint-ttl.js"
import { HttpFailure, jsonReply, type Reply } from "../http-reply.js"
import { decodeJsonBody } from "../request-body.js"
import type { Route, RouteRequest, ServerState } from "../server-state.js"
import { type CheckpointPath, formatCheckpointPath, parseCheckpointPath } from "../state-paths.js"
import { makeArchiveSigner, tarOf } from "./checkpoint-archive.js"
import type { StoredCheckpoint } from "./checkpoint-catalog.js"
import { checkpointJson, type CursorJson, trainingRunJson } from "./rest-shapes.js"

// How long an archive link works: what the SDK assumes when a server gives no expiry.
const archiveLinkMs = 15 * 60_000
// The most of anything one page holds; the SDK's CLI asks for 1000 checkpoints at a time.
const maxPageSize = 1000

/** A query parameter of the request; null when absent. */
const query = (request: RouteRequest, name: string): string | null =>
  new URL(request.message.url ?? "/", "http://localhost").searchParams.get(name)

/** A non-negative integer query parameter, `fallback` when absent; a 400 otherwise. */
const queryInt = (request: RouteRequest, name: string, fallback: number): Effect.Effect<number, HttpFailure> => {
  const text = query(request, name)
  if (text === null) return Effect.succeed(fallback)
  const value = Number(text)
  return /^\d+$/.test(text) && Number.isSafeInteger(value)
    ? Effect.succeed(value)
    : Effect.fail(new HttpFailure({ status: 400, message: `${name}: expected a non-negative integer, got ${JSON.stringify(text)}` }))
}

/** `limit` and `offset` of a listing: a page of `items`, and the cursor that says where it is. */
const page = <A>(request: RouteRequest, items: ReadonlyArray<A>, defaultLimit: number) =>
  Effect.gen(function*() {
    const limit = Math.min(yield* queryInt(request, "limit", defaultLimit), maxPageSize)
    const offset = yield* queryInt(request, "offset", 0)
    const cursor: CursorJson = { offset, limit, total_count: items.length }
    return { items: items.slice(offset, offset + limit), cursor }
  })

const param = (request: RouteRequest, name: string): string => request.pathParameters[name] ?? ""

/** The model `modelId` if `owner`'s key holds it. */
const heldModel = (state: ServerState, owner: string, modelId: string) => {
  const held = state.models.get(modelId)
  return held?.owner === owner ? held : undefined
}

/**
 * A run of the caller's key, the `{id}` of the path: a model it holds, or one it has
 * checkpoints of (newest first); another key's reads as unknown.
 */
const runOf = (state: ServerState, request: RouteRequest) =>
  Effect.gen(function*() {
    const owner = request.tenant.name
    const modelId = param(request, "id")
    const model = heldModel(state, owner, modelId)
    const checkpoints = yield* state.checkpoints.list(owner, modelId)
    if (model === undefined && checkpoints.length === 0) {
      return yield* new HttpFailure({ status: 404, message: `unknown training run ${JSON.stringify(modelId)}` })
    }
    return { run: trainingRunJson(owner, modelId, model, checkpoints), checkpoints }
  })

/** The checkpoint a `/training_runs/{id}/checkpoints/{kind}/{name}` path names (the SDK's checkpoint_id is `<kind>/<name>`). */
const checkpointParam = (request: RouteRequest): Effect.Effect<CheckpointPath, HttpFailure> => {
  const parsed = parseCheckpointPath(`tinker://${param(request, "id")}/${param(request, "kind")}/${param(request, "name")}`)
  return typeof parsed === "string" ? Effect.fail(new HttpFailure({ status: 400, message: parsed })) : Effect.succeed(parsed)
}

/** The stored checkpoint of the caller's key the path names; a 404 for a missing one or another key's. */
const storedCheckpoint = (state: ServerState, request: RouteRequest): Effect.Effect<StoredCheckpoint, HttpFailure> =>
  Effect.gen(function*() {
    const checkpoint = yield* checkpointParam(request)
    const stored = yield* state.checkpoints.find(request.tenant.name, checkpoint)
    if (stored === undefined) return yield* new HttpFailure({ status: 404, message: `no checkpoint at ${formatCheckpointPath(checkpoint)}` })
    return stored
  })

/** `GET /training_runs`: the key's runs, most recently used first (`access_scope` is moot: nothing is shared). */
const listTrainingRuns = (state: ServerState) => (request: RouteRequest) =>
  Effect.gen(function*() {
    const owner = request.tenant.name
    // Each run's checkpoints, newest first as listed; held models with none have an empty list.
    const byRun = new Map<string, Array<StoredCheckpoint>>()
    for (const model of state.models.values()) if (model.owner === owner) byRun.set(model.modelId, [])
    for (const stored of yield* state.checkpoints.list(owner)) {
      byRun.set(stored.checkpoint.modelId, [...byRun.get(stored.checkpoint.modelId) ?? [], stored])
    }
    const runs = [...byRun]
      .map(([id, checkpoints]) => trainingRunJson(owner, id, heldModel(state, owner, id), checkpoints))
      .sort((a, b) => b.last_request_time.localeCompare(a.last_request_time) || a.training_run_id.localeCompare(b.training_run_id))
    const { items, cursor } = yield* page(request, runs, 20)
    return jsonReply({ training_runs: items, cursor })
  })

/** `GET /checkpoints`: all the key's checkpoints, newest first. */
const listUserCheckpoints = (state: ServerState) => (request: RouteRequest) =>
  Effect.gen(function*() {
    const { items, cursor } = yield* page(request, yield* state.checkpoints.list(request.tenant.name), 100)
    return jsonReply({ checkpoints: items.map(checkpointJson), cursor })
  })

/** `GET /training_runs/{id}/checkpoints`: a run's checkpoints, newest first, in one page (the SDK pages none). */
const listRunCheckpoints = (state: ServerState) => (request: RouteRequest) =>
  Effect.gen(function*() {
    const { checkpoints } = yield* runOf(state, request)
    return jsonReply({ checkpoints: checkpoints.map(checkpointJson), cursor: null })
  })

/** `DELETE …/checkpoints/{kind}/{name}`: the file goes; loads and samplers made from it later fail. */
const deleteCheckpoint = (state: ServerState) => (request: RouteRequest) =>
  Effect.gen(function*() {
    const stored = yield* storedCheckpoint(state, request)
    yield* state.weights.remove(request.tenant.name, stored.checkpoint)
    return { status: 204, headers: {}, body: new Uint8Array() } satisfies Reply
  })

const TtlBody = Schema.Struct({ ttl_seconds: Schema.NullOr(Schema.Int) })

/** `PUT …/checkpoints/{kind}/{name}/ttl`: deleted `ttl_seconds` from now (null: kept for ever); answers the checkpoint. */
const setCheckpointTtl = (state: ServerState) => (request: RouteRequest) =>
  Effect.gen(function*() {
    const { ttl_seconds } = yield* decodeJsonBody(TtlBody, request.body)
    if (ttl_seconds !== null && !(ttl_seconds > 0 && ttl_seconds <= maxTtlSeconds)) {
      return yield* new HttpFailure({
        status: 400,
        message: `ttl_seconds must be > 0 and at most ${maxTtlSeconds} (100 years), or null to keep the checkpoint for ever; got ${ttl_seconds}`
      })
    }
    const stored = yield* storedCheckpoint(state, request)
    const expiresAt = ttl_seconds === null ? undefined : Date.now() + ttl_seconds * 1000
    yield* state.weights.setExpiry(request.tenant.name, stored.checkpoint, expiresAt)
    return jsonReply(checkpointJson({ ...stored, expiresAt }))
  })

/** Publishing would share a checkpoint with other keys, which this server never does. */
const notSupported = (what: string) => () =>
  Effect.fail(new HttpFailure({ status: 400, message: `${what} is not supported by sous serve: checkpoints stay private to the key that saved them` }))

/**
 * The REST API of the SDK's `RestClient`: training runs (the key's models, held or with
 * checkpoints on disk) and their checkpoints: list, delete, time to live, archive download.
 * Everything is the caller's key's alone; another key's run or checkpoint reads as unknown.
 */
export const restRoutes = (state: ServerState): ReadonlyArray<Route> => {
  const signer = makeArchiveSigner()
  const checkpointPath = "/training_runs/{id}/checkpoints/{kind}/{name}"

  /** `GET …/archive`: a link, good for 15 minutes and without the key, as the SDK's 200 `{url, expires}`. */
  const archiveUrl = (request: RouteRequest) =>
    Effect.gen(function*() {
      const stored = yield* storedCheckpoint(state, request)
      const expiresAt = Date.now() + archiveLinkMs
      const token = signer.sign({ owner: request.tenant.name, checkpoint: stored.checkpoint, expiresAt })
      const host = request.message.headers.host
      // The token goes in the query, which the server's request log leaves out (the path is logged).
      const url = `${host === undefined ? "" : `http://${host}`}/api/v1/checkpoint_archive?token=${token}`
      return jsonReply({ url, expires: new Date(expiresAt).toISOString() })
    })

  /** `GET /checkpoint_archive?token=…`: the checkpoint as a tar holding `checkpoint.state`; the token is the only credential. */
  const downloadArchive = (request: RouteRequest) =>
    Effect.gen(function*() {
      const grant = signer.verify(query(request, "token") ?? "", Date.now())
      if (grant === undefined) return yield* new HttpFailure({ status: 403, message: "not a checkpoint archive link of this server (or of its current run)" })
      if (grant === "expired") return yield* new HttpFailure({ status: 410, message: "this archive link has expired: ask for a new one" })
      const gone = new HttpFailure({ status: 404, message: `no checkpoint at ${formatCheckpointPath(grant.checkpoint)}: it was deleted or has expired` })
      const stored = yield* state.checkpoints.find(grant.owner, grant.checkpoint)
      if (stored === undefined) return yield* gone
      const bytes = yield* state.weights.read(grant.owner, grant.checkpoint).pipe(
        // Deleted since it was found; any other read failure is the server's.
        Effect.mapError((error) => error._tag === "InvalidRequestError" ? gone : new HttpFailure({ status: 503, message: error.message, cause: error }))
      )
      return {
        status: 200,
        headers: { "content-type": "application/x-tar", "content-disposition": `attachment; filename="checkpoint.tar"` },
        body: tarOf("checkpoint.state", bytes, stored.time)
      } satisfies Reply
    })

  return [
    { method: "GET", path: "/training_runs", body: undefined, kind: "read", handle: listTrainingRuns(state) },
    {
      method: "GET",
      path: "/training_runs/{id}",
      body: undefined,
      kind: "read",
      handle: (request) => Effect.map(runOf(state, request), ({ run }) => jsonReply(run))
    },
    { method: "GET", path: "/training_runs/{id}/checkpoints", body: undefined, kind: "read", handle: listRunCheckpoints(state) },
    { method: "GET", path: "/checkpoints", body: undefined, kind: "read", handle: listUserCheckpoints(state) },
    { method: "GET", path: `${checkpointPath}/archive`, body: undefined, kind: "read", handle: archiveUrl },
    { method: "GET", path: "/checkpoint_archive", body: undefined, kind: "public", handle: downloadArchive },
    { method: "DELETE", path: checkpointPath, body: undefined, kind: "submission", handle: deleteCheckpoint(state) },
    { method: "PUT", path: `${checkpointPath}/ttl`, body: "application/json", kind: "submission", handle: setCheckpointTtl(state) },
    { method: "POST", path: `${checkpointPath}/publish`, body: undefined, kind: "submission", handle: notSupported("publishing a checkpoint") },
    { method: "DELETE", path: `${checkpointPath}/publish`, body: undefined, kind: "submission", handle: notSupported("unpublishing a checkpoint") }
  ]
}
