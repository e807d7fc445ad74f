import { Deferred, Effect, Exit, Scope } from "effect"
import { estimateTrainingMemory, type MemoryEstimate } from "../../adapters/local/index.js"
import type { LoraConfig, TrainingClientConfig } from "../../ports/index.js"
import {
  CreateModelRequest,
  type CreateModelResponse,
  GetInfoRequest,
  type GetInfoResponse,
  UnloadModelRequest,
  type UnloadModelResponse,
  WeightsInfoRequest,
  type WeightsInfoResponse
} from "../../protocol/index.js"
import { failureOf, makeTimeline } from "../future-runner.js"
import { HttpFailure, jsonReply } from "../http-reply.js"
import { releaseModel } from "../model-lifecycle.js"
import { makeModelSequencer } from "../model-sequencer.js"
import { decodeJsonBody } from "../request-body.js"
import type { Route, RouteRequest, ServerState, TrainingModel } from "../server-state.js"
import { formatCheckpointPath, parseCheckpointPath } from "../state-paths.js"
import { futureReply, keptWhileHeld, modelOf } from "./sequenced-request.js"
import { sessionOf } from "./session-routes.js"

/** The backend's settings for a `create_model` body, with the sous extension read. */
const clientConfig = (state: ServerState, body: CreateModelRequest): TrainingClientConfig => {
  const sous = body.user_metadata?.sous
  const architecture = sous?.architecture ?? state.options.baseModels[body.base_model]
  const wireLora = body.lora_config
  const lora: LoraConfig | undefined = wireLora === undefined ? undefined : {
    rank: wireLora.rank,
    ...(sous?.alpha === undefined ? {} : { alpha: sous.alpha }),
    trainAttn: wireLora.train_attn,
    trainMlp: wireLora.train_mlp,
    trainUnembed: wireLora.train_unembed
  }
  return {
    baseModel: body.base_model,
    ...(architecture === undefined ? {} : { architecture }),
    // A fixed default keeps runs reproducible; the SDK's "no seed" means "any seed".
    seed: sous?.seed ?? wireLora?.seed ?? 0,
    ...(lora === undefined ? {} : { lora })
  }
}

// A model without an architecture is one the backend names (the local backend refuses it).
const noEstimate: MemoryEstimate = { parameters: 0, trainedParameters: 0, bytes: 0 }

/**
 * `create_model`: registers the model at once (so its first requests can queue behind the
 * creation) and builds its client in the background. Idempotent by `(session_id,
 * model_seq_id)`: a retry gets the first request's future. A model its key's quota or the
 * server's memory budget cannot hold is refused with 413 before anything is built.
 */
const createModel = (state: ServerState) => (request: RouteRequest) =>
  Effect.gen(function*() {
    const body = yield* decodeJsonBody(CreateModelRequest, request.body)
    const session = yield* sessionOf(state, request, body.session_id, ": call create_session first")
    session.lastSeenAt = Date.now()
    const modelId = `${body.session_id}:train:${body.model_seq_id}`
    const key = `${body.session_id}/${body.model_seq_id}`
    const original = state.modelRequests.get(key)
    if (original !== undefined) return futureReply(original, modelId)
    const config = clientConfig(state, body)
    const estimate = config.architecture === undefined ? noEstimate : estimateTrainingMemory(config.architecture, config.lora)
    const reservation = state.budget.reserve(request.tenant, "model", estimate, "create_model")
    if (typeof reservation === "string") return yield* new HttpFailure({ status: 413, message: reservation })
    const future = state.futures.create(request.tenant.name, keptWhileHeld(state, modelId))
    state.modelRequests.set(key, future.requestId)
    const scope = yield* Scope.fork(state.scope)
    // However the model ends (unloaded, expired, the server closing), its budget is given back.
    yield* Scope.addFinalizer(scope, Effect.sync(reservation.release))
    const model: TrainingModel = {
      modelId,
      owner: request.tenant.name,
      sessionId: body.session_id,
      baseModel: body.base_model,
      architecture: config.architecture,
      lora: config.lora,
      client: Deferred.makeUnsafe(),
      sequencer: yield* makeModelSequencer(scope, state.options.gapTimeoutMs),
      timeline: makeTimeline(),
      scope,
      reservation,
      lastUsedAt: Date.now(),
      inFlight: 1
    }
    state.models.set(modelId, model)
    const startedAt = Date.now()
    yield* state.backend.createTrainingClient(config).pipe(
      Scope.provide(scope),
      Effect.exit,
      Effect.flatMap((exit) =>
        Effect.sync(() => {
          Deferred.doneUnsafe(model.client, exit)
          model.inFlight -= 1
          model.lastUsedAt = Date.now()
          // A model that could not be built holds no memory.
          if (Exit.isFailure(exit)) reservation.release()
          const timings = { queueMs: startedAt - request.arrivedAt, computeMs: Date.now() - startedAt }
          if (Exit.isSuccess(exit)) {
            const result: CreateModelResponse = { model_id: modelId, type: "create_model" }
            future.complete({ _tag: "Done", result: { _tag: "Json", body: result }, timings })
            return
          }
          const error = Exit.findErrorOption(exit)
          future.complete(
            error._tag === "Some"
              ? { _tag: "Failed", ...failureOf(error.value), timings }
              : { _tag: "Failed", error: "the model could not be created", category: "server", timings }
          )
        })
      ),
      Effect.forkIn(state.scope)
    )
    return futureReply(future.requestId, modelId)
  })

/** `get_info`: the model's base, LoRA settings and (sous extension) size and device. */
const getInfo = (state: ServerState) => (request: RouteRequest) =>
  Effect.gen(function*() {
    const body = yield* decodeJsonBody(GetInfoRequest, request.body)
    const model = yield* modelOf(state, request, body.model_id)
    const client = yield* Deferred.await(model.client).pipe(
      Effect.mapError((error) =>
        new HttpFailure({ status: 400, message: `model ${body.model_id} could not be created: ${error.message}`, cause: error })
      )
    )
    const info = yield* client.info
    const reply: GetInfoResponse = {
      type: "get_info",
      model_id: model.modelId,
      model_data: {
        model_name: model.baseModel,
        ...(model.architecture === undefined ? {} : { arch: model.architecture.kind })
      },
      is_lora: model.lora !== undefined,
      ...(model.lora === undefined ? {} : { lora_rank: model.lora.rank }),
      model_name: model.baseModel,
      sous: { parameter_count: info.parameterCount, device: info.device }
    }
    return jsonReply(reply)
  })

/**
 * `unload_model`: the model takes no more requests and its budget is free at once; once the
 * requests already accepted have started, its scope closes and the backend frees it (weights
 * and optimizer state). A client unloads a model when it is done with it, so nothing still
 * awaits those requests' results.
 */
const unloadModel = (state: ServerState) => (request: RouteRequest) =>
  Effect.gen(function*() {
    const body = yield* decodeJsonBody(UnloadModelRequest, request.body)
    const model = yield* modelOf(state, request, body.model_id)
    yield* releaseModel(state, model)
    // Never a 410 (the SDK could not survive it): with the model gone, kept for the futures' time to live.
    const future = state.futures.create(request.tenant.name, keptWhileHeld(state, model.modelId))
    const result: UnloadModelResponse = { model_id: model.modelId, type: "unload_model" }
    future.complete({ _tag: "Done", result: { _tag: "Json", body: result }, timings: { queueMs: 0, computeMs: 0 } })
    return futureReply(future.requestId, model.modelId)
  })

/**
 * `weights_info`: what model saved a checkpoint (base model, LoRA settings). The SDK's
 * `create_training_client_from_state*` reads it to create a matching model before loading the
 * checkpoint into it. Only checkpoints of models this server still holds can be described: the
 * settings live with the model, not in the file.
 */
const weightsInfo = (state: ServerState) => (request: RouteRequest) =>
  Effect.gen(function*() {
    const body = yield* decodeJsonBody(WeightsInfoRequest, request.body)
    const checkpoint = parseCheckpointPath(body.tinker_path)
    if (typeof checkpoint === "string") return yield* new HttpFailure({ status: 400, message: `tinker_path: ${checkpoint}` })
    const path = formatCheckpointPath(checkpoint)
    const held = state.models.get(checkpoint.modelId)
    // Another key's model reads as one this server does not hold.
    const model = held?.owner === request.tenant.name ? held : undefined
    if (model === undefined) {
      return yield* new HttpFailure({
        status: 404,
        message: `the model ${JSON.stringify(checkpoint.modelId)} that saved ${path} is not held by this server, so its settings are unknown`
      })
    }
    if (!(yield* state.weights.exists(request.tenant.name, checkpoint))) return yield* new HttpFailure({ status: 404, message: `no checkpoint at ${path}` })
    const lora = model.lora
    return jsonReply({
      base_model: model.baseModel,
      is_lora: lora !== undefined,
      ...(lora === undefined ? {} : {
        lora_rank: lora.rank,
        train_unembed: lora.trainUnembed ?? true,
        train_mlp: lora.trainMlp ?? true,
        train_attn: lora.trainAttn ?? true
      })
    } satisfies WeightsInfoResponse)
  })

/** The routes that create, describe and unload training models. */
export const modelRoutes = (state: ServerState): ReadonlyArray<Route> => [
  { method: "POST", path: "/create_model", body: "application/json", kind: "submission", handle: createModel(state) },
  { method: "POST", path: "/get_info", body: "application/json", kind: "read", handle: getInfo(state) },
  { method: "POST", path: "/unload_model", body: "application/json", kind: "submission", handle: unloadModel(state) },
  { method: "POST", path: "/weights_info", body: "application/json", kind: "read", handle: weightsInfo(state) }
]
