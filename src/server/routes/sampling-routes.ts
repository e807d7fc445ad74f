import { Effect, Option } from "effect"
import { type BaseModelSource, type Pending, type SampleResponse, type StateRef, type TrainingCallError } from "../../ports/index.js"
import {
  CreateSamplingSessionRequest,
  type CreateSamplingSessionResponse,
  type GetSamplerResponse,
  SampleRequest
} from "../../protocol/index.js"
import type { FutureResult } from "../future-store.js"
import { submitFuture } from "../future-runner.js"
import { HttpFailure, jsonReply } from "../http-reply.js"
import { decodeJsonBody } from "../request-body.js"
import type { Route, RouteRequest, SamplerSource, ServerState } from "../server-state.js"
import { parseCheckpointPath } from "../state-paths.js"
import { futureReply } from "./sequenced-request.js"

/** Where a sampling session's weights come from: a saved checkpoint, or a base model. */
const samplingSource = (
  state: ServerState,
  body: CreateSamplingSessionRequest
): Effect.Effect<StateRef | BaseModelSource, HttpFailure> =>
  Effect.gen(function*() {
    if (body.model_path !== undefined) {
      const checkpoint = parseCheckpointPath(body.model_path)
      if (typeof checkpoint === "string") return yield* new HttpFailure({ status: 400, message: `model_path: ${checkpoint}` })
      const bytes = yield* state.weights.read(checkpoint).pipe(
        Effect.mapError((error) =>
          new HttpFailure({ status: error._tag === "InvalidRequestError" ? 404 : 500, message: error.message, cause: error })
        )
      )
      return { _tag: "Bytes", bytes } as const
    }
    if (body.base_model === undefined) {
      return yield* new HttpFailure({ status: 400, message: "model_path or base_model: give the weights to sample from" })
    }
    const architecture = body.sous?.architecture ?? state.options.baseModels[body.base_model]
    return {
      baseModel: body.base_model,
      ...(architecture === undefined ? {} : { architecture }),
      seed: body.sous?.seed ?? 0
    }
  })

/** What `GET /samplers/<id>` tells of a session: a checkpoint's base model is its trainer's. */
const samplerSourceOf = (state: ServerState, body: CreateSamplingSessionRequest): SamplerSource => {
  const checkpoint = body.model_path === undefined ? undefined : parseCheckpointPath(body.model_path)
  const trainer = checkpoint === undefined || typeof checkpoint === "string" ? undefined : state.models.get(checkpoint.modelId)
  return { baseModel: body.base_model ?? trainer?.baseModel, modelPath: body.model_path }
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
    const source = state.samplerSources.get(id)
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
 * session. Sessions beyond the server's limit are freed, least recently used first.
 */
const createSamplingSession = (state: ServerState) => (request: RouteRequest) =>
  Effect.gen(function*() {
    const body = yield* decodeJsonBody(CreateSamplingSessionRequest, request.body)
    if (!state.sessions.has(body.session_id)) {
      return yield* new HttpFailure({ status: 404, message: `unknown session_id ${JSON.stringify(body.session_id)}: call create_session first` })
    }
    const samplingSessionId = `${body.session_id}:sample:${body.sampling_session_seq_id}`
    const source = yield* samplingSource(state, body)
    yield* state.samplers.open(samplingSessionId, state.backend.createSamplingClient(source)).pipe(
      Effect.mapError((error) =>
        new HttpFailure({ status: error._tag === "InvalidRequestError" ? 400 : 500, message: error.message, cause: error })
      )
    )
    state.samplerSources.set(samplingSessionId, samplerSourceOf(state, body))
    const reply: CreateSamplingSessionResponse = { type: "create_sampling_session", sampling_session_id: samplingSessionId }
    return jsonReply(reply)
  })

/**
 * `asample`: draws samples, with the prompt's logprobs when asked. The session is held
 * until the request finishes, so the session limit cannot free it mid-request; a session
 * that is gone (never made, or freed) is a 404, and the client should make a new one.
 */
const asample = (state: ServerState) => (request: RouteRequest) =>
  Effect.gen(function*() {
    const body = yield* decodeJsonBody(SampleRequest, request.body)
    if (body.topk_prompt_logprobs > 0) {
      return yield* new HttpFailure({ status: 400, message: "topk_prompt_logprobs: this server computes no top-k prompt logprobs; send 0" })
    }
    const held = state.samplers.acquire(body.sampling_session_id)
    if (Option.isNone(held)) {
      return yield* new HttpFailure({
        status: 404,
        message: `unknown sampling_session_id ${JSON.stringify(body.sampling_session_id)} (never created, or freed as least recently used): create a new sampling session`
      })
    }
    const { client, timeline, release } = held.value
    const future = state.futures.create()
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
