import { createHash } from "node:crypto"
import { Effect } from "effect"
import type { MemoryEstimate } from "../../adapters/local/index.js"
import {
  type BaseModelSource,
  InvalidRequestError,
  type ModelArchitecture,
  type Pending,
  type SampleResponse,
  type StateRef,
  type TrainingCallError,
  TrainingError
} from "../../ports/index.js"
import {
  CreateSamplingSessionRequest,
  type CreateSamplingSessionResponse,
  type GetSamplerResponse,
  SampleRequest
} from "../../protocol/index.js"
import type { Tenant } from "../api-keys.js"
import type { FutureResult } from "../future-store.js"
import { type BackendCallError, submitFuture } from "../future-runner.js"
import { HttpFailure, jsonReply } from "../http-reply.js"
import { decodeJsonBody } from "../request-body.js"
import { samplerEstimate } from "../resource-budget.js"
import { keptFilesPerSampler, SamplerGone, type SamplerRequest } from "../sampling-sessions.js"
import type { Route, RouteRequest, SamplerSource, ServerState } from "../server-state.js"
import { formatCheckpointPath, parseCheckpointPath } from "../state-paths.js"
import { futureReply } from "./sequenced-request.js"
import { sessionOf } from "./session-routes.js"

/** A sampling session's weights, what it will hold, and how to build it again after it was freed. */
interface SamplingSource {
  readonly source: StateRef | BaseModelSource
  readonly estimate: MemoryEstimate
  readonly rebuild: SamplerRequest["rebuild"]
}

const digest = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex")

/**
 * Why the session `id`, freed to make room, cannot be built again, and what to run instead:
 * the Python SDK shows these words inside its `NotFoundError`.
 */
const goneMessage = (tenant: Tenant, id: string, why: string): string =>
  `sampling session ${JSON.stringify(id)} was freed to make room (this server loads at most ${tenant.quota.maxSamplers} ` +
  `sampling sessions per key at once and builds a freed one again when it is used) and its weights are gone: ${why}. ` +
  "Create a new one from weights that exist: service_client.create_sampling_client(model_path=\"tinker://<model_id>/sampler_weights/<name>\"), " +
  "or training_client.save_weights_and_get_sampling_client()"

/**
 * Where a sampling session's weights come from (a checkpoint of the caller's key, or a base
 * model), and what it will hold. A checkpoint is read again to build the session again, and
 * must still hold the bytes it held (a sampler sampling other weights than it was made with
 * would be wrong without a word).
 */
const samplingSource = (
  state: ServerState,
  request: RouteRequest,
  body: CreateSamplingSessionRequest,
  id: string
): Effect.Effect<SamplingSource, HttpFailure> =>
  Effect.gen(function*() {
    if (body.model_path !== undefined) {
      const checkpoint = parseCheckpointPath(body.model_path)
      if (typeof checkpoint === "string") return yield* new HttpFailure({ status: 400, message: `model_path: ${checkpoint}` })
      const bytes = yield* state.weights.read(request.tenant.name, checkpoint).pipe(
        Effect.mapError((error) =>
          new HttpFailure({ status: error._tag === "InvalidRequestError" ? 404 : 500, message: error.message, cause: error })
        )
      )
      const trainer = state.models.get(checkpoint.modelId)
      const architecture = trainer?.owner === request.tenant.name ? trainer.architecture : undefined
      const made = digest(bytes)
      const path = formatCheckpointPath(checkpoint)
      // The tenant alone: the session outlives the request (and its body).
      const { tenant } = request
      const rebuild = state.weights.read(tenant.name, checkpoint).pipe(
        Effect.catchTag("InvalidRequestError", () => Effect.fail(new SamplerGone({ message: goneMessage(tenant, id, `checkpoint ${path} was deleted`) }))),
        Effect.filterOrFail(
          (again) => digest(again) === made,
          () => new SamplerGone({ message: goneMessage(tenant, id, `checkpoint ${path} was overwritten since`) })
        ),
        Effect.flatMap((again) => state.backend.createSamplingClient({ _tag: "Bytes", bytes: again }))
      )
      const found: SamplingSource = { source: { _tag: "Bytes", bytes }, estimate: samplerEstimate(architecture, bytes.byteLength), rebuild }
      return found
    }
    if (body.base_model === undefined) {
      return yield* new HttpFailure({ status: 400, message: "model_path or base_model: give the weights to sample from" })
    }
    const architecture = body.sous?.architecture ?? state.options.baseModels[body.base_model]
    const source: BaseModelSource = {
      baseModel: body.base_model,
      ...(architecture === undefined ? {} : { architecture }),
      seed: body.sous?.seed ?? 0
    }
    return { source, estimate: samplerEstimate(architecture), rebuild: state.backend.createSamplingClient(source) }
  })

/**
 * Opens the sampling session `id` over the weights a model just saved for it (no checkpoint
 * holds them: `save_weights_for_sampler` without a name). The bytes are kept on disk while
 * the session lives, so that it can be built again after it was freed to make room.
 */
export const openSavedSampler = (
  state: ServerState,
  tenant: Tenant,
  id: string,
  options: { readonly architecture: ModelArchitecture | undefined; readonly ttlMs: number | undefined },
  bytes: Uint8Array
): Effect.Effect<void, BackendCallError> =>
  Effect.gen(function*() {
    yield* state.samplerWeights.write(tenant.name, id, bytes)
    const rebuild = state.samplerWeights.read(tenant.name, id).pipe(
      Effect.flatMap((again): SamplerRequest["rebuild"] =>
        again === undefined
          ? Effect.fail(new SamplerGone({ message: goneMessage(tenant, id, "the file that kept them is missing") }))
          : state.backend.createSamplingClient({ _tag: "Bytes", bytes: again })
      )
    )
    yield* state.samplers.open({
      id,
      tenant,
      estimate: samplerEstimate(options.architecture),
      ttlMs: options.ttlMs,
      rebuild,
      forget: state.samplerWeights.remove(tenant.name, id),
      dropped: goneMessage(tenant, id, `the server keeps the weights of the ${keptFilesPerSampler * tenant.quota.maxSamplers} most recently used freed ones`)
    }, state.backend.createSamplingClient({ _tag: "Bytes", bytes }))
  }).pipe(
    Effect.catchTags({
      BudgetRefusal: (refusal) => Effect.fail(new InvalidRequestError({ operation: "saveWeightsForSampler", message: refusal.message })),
      SamplerGone: (gone) => Effect.fail(new TrainingError({ operation: "saveWeightsForSampler", message: gone.message, retryable: false }))
    })
  )

/** What `GET /samplers/<id>` tells of a session: a checkpoint's base model is its trainer's. */
const samplerSourceOf = (state: ServerState, request: RouteRequest, body: CreateSamplingSessionRequest): SamplerSource => {
  const checkpoint = body.model_path === undefined ? undefined : parseCheckpointPath(body.model_path)
  const held = checkpoint === undefined || typeof checkpoint === "string" ? undefined : state.models.get(checkpoint.modelId)
  const trainer = held?.owner === request.tenant.name ? held : undefined
  return { owner: request.tenant.name, baseModel: body.base_model ?? trainer?.baseModel, modelPath: body.model_path }
}

/**
 * `GET /samplers/<id>`: the base model (and checkpoint) a sampling session samples from; the
 * SDK's `SamplingClient.get_base_model` (and `get_tokenizer`) read it.
 */
const getSampler = (state: ServerState) => (request: RouteRequest) =>
  Effect.gen(function*() {
    const id = yield* Effect.try({
      try: () => decodeURIComponent(request.pathParameter ?? ""),
      catch: (error) => new HttpFailure({ status: 400, message: "the sampler id in the path is not valid percent-encoding", cause: error })
    })
    const found = state.samplerSources.get(id)
    // Another key's sampler reads as one that does not exist.
    const source = found?.owner === request.tenant.name ? found : undefined
    if (source === undefined) return yield* new HttpFailure({ status: 404, message: `unknown sampler ${JSON.stringify(id)}` })
    if (source.baseModel === undefined) {
      return yield* new HttpFailure({
        status: 404,
        message: `the base model of sampler ${JSON.stringify(id)} is unknown: its checkpoint's model is not held by this server`
      })
    }
    return jsonReply({
      sampler_id: id,
      base_model: source.baseModel,
      ...(source.modelPath === undefined ? {} : { model_path: source.modelPath })
    } satisfies GetSamplerResponse)
  })

/**
 * `create_sampling_session`: loads the weights once, under the id
 * `<session_id>:sample:<sampling_session_seq_id>`; a retry of the same request gets the same
 * session. Sessions beyond the key's quota are freed, least recently used first (and built
 * again when used); one the memory budget cannot hold is refused with 413.
 */
const createSamplingSession = (state: ServerState) => (request: RouteRequest) =>
  Effect.gen(function*() {
    const body = yield* decodeJsonBody(CreateSamplingSessionRequest, request.body)
    const session = yield* sessionOf(state, request, body.session_id, ": call create_session first")
    session.lastSeenAt = Date.now()
    const samplingSessionId = `${body.session_id}:sample:${body.sampling_session_seq_id}`
    const { source, estimate, rebuild } = yield* samplingSource(state, request, body, samplingSessionId)
    // Nothing of its own to delete: its weights are a checkpoint's, or a base model's.
    const opened = { id: samplingSessionId, tenant: request.tenant, estimate, rebuild, forget: Effect.void }
    yield* state.samplers.open(opened, state.backend.createSamplingClient(source)).pipe(
      Effect.mapError((error) =>
        new HttpFailure({
          status: error._tag === "BudgetRefusal" ? 413 : error._tag === "InvalidRequestError" ? 400 : 500,
          message: error.message,
          cause: error
        })
      )
    )
    state.samplerSources.set(samplingSessionId, samplerSourceOf(state, request, body))
    const reply: CreateSamplingSessionResponse = { type: "create_sampling_session", sampling_session_id: samplingSessionId }
    return jsonReply(reply)
  })

/**
 * `asample`: draws samples, with the prompt's logprobs when asked. The session is held
 * until the request finishes, so the session limit cannot free it mid-request. A session
 * freed to make room is built again first (the Python SDK keeps using a sampling client and
 * never makes a new one); a 404 says why when it cannot be (its checkpoint deleted, or it
 * went unused past its time to live), or that the server restarted.
 */
const asample = (state: ServerState) => (request: RouteRequest) =>
  Effect.gen(function*() {
    const body = yield* decodeJsonBody(SampleRequest, request.body)
    if (body.topk_prompt_logprobs > 0) {
      return yield* new HttpFailure({ status: 400, message: "topk_prompt_logprobs: this server computes no top-k prompt logprobs; send 0" })
    }
    const id = body.sampling_session_id
    const { client, timeline, release } = yield* state.samplers.acquire(id, request.tenant.name).pipe(
      Effect.mapError((error) => {
        switch (error._tag) {
          case "SamplerUnknown": {
            const plain = `unknown sampling_session_id ${JSON.stringify(id)} (never created, or unused for longer than its time to live): create a new sampling session`
            return new HttpFailure({ status: 404, message: state.instance.unknown("sampling_session_id", id, plain) })
          }
          case "SamplerGone":
            return new HttpFailure({ status: 404, message: error.message, cause: error })
          // The key's other sessions are busy and the budget is short now: the SDK retries a 503.
          case "BudgetRefusal":
          case "BackendUnavailableError":
            return new HttpFailure({ status: 503, message: `sampling session ${id} cannot be loaded now: ${error.message}`, cause: error })
          default:
            return new HttpFailure({ status: error._tag === "InvalidRequestError" ? 400 : 500, message: error.message, cause: error })
        }
      })
    )
    const future = state.futures.create(request.tenant.name)
    const submit: Effect.Effect<Pending<SampleResponse, TrainingCallError>, TrainingCallError> = Effect.gen(function*() {
      const samples = yield* client.sample(body.prompt, body.num_samples, body.sampling_params)
      const logprobs = body.prompt_logprobs === true ? yield* client.computeLogprobs(body.prompt) : undefined
      const result: Effect.Effect<SampleResponse, TrainingCallError> = Effect.gen(function*() {
        const response = yield* samples.result
        if (logprobs === undefined) return response
        return { ...response, prompt_logprobs: yield* logprobs.result }
      })
      return { result: Effect.ensuring(result, release) }
    })
    yield* submitFuture<SampleResponse, TrainingCallError>({
      future,
      timeline,
      arrivedAt: request.arrivedAt,
      scope: state.scope,
      submit: Effect.tapCause(submit, () => release),
      finish: (response) => Effect.succeed<FutureResult>({ _tag: "Sample", response })
    })
    return futureReply(future.requestId)
  })

/** The routes that create sampling sessions and sample from them. */
export const samplingRoutes = (state: ServerState): ReadonlyArray<Route> => [
  {
    method: "POST",
    path: "/create_sampling_session",
    body: "application/json",
    kind: "submission",
    handle: createSamplingSession(state)
  },
  { method: "POST", path: "/asample", body: "application/json", kind: "submission", handle: asample(state) },
  { method: "GET", path: "/samplers/*", body: undefined, kind: "read", handle: getSampler(state) }
]
