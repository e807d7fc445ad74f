import { Effect, Layer, Schema } from "effect"
import {
  type BackendCapabilities,
  type BackendUnavailableError,
  type BaseModelSource,
  LossFnType,
  type StateRef,
  TrainingBackend,
  type TrainingClientConfig
} from "../../ports/index.js"
import { decodeReply } from "./remote-request.js"
import { makeTinkerHttp, replyJson } from "./tinker-http.js"
import { resolveTinkerOptions, type TinkerBackendOptions } from "./tinker-options.js"
import { makeTinkerSamplingClient } from "./tinker-sampling-client.js"
import { openTinkerSession, type TinkerSession, unavailable } from "./tinker-session.js"
import { makeTinkerTrainingClient } from "./tinker-training-client.js"
import { GetServerCapabilitiesResponse } from "../../protocol/index.js"

/**
 * What the service can do. A sous server says (its `sous` extension); of any other service
 * the protocol's promises are assumed: every built-in loss, LoRA up to rank 32, custom
 * losses (run client-side), sampling, and checkpoints kept by the service.
 */
const fetchCapabilities = (session: TinkerSession): Effect.Effect<BackendCapabilities, BackendUnavailableError> =>
  session.http.submit({ method: "GET", endpoint: "/get_server_capabilities" }).pipe(
    Effect.flatMap((submitted) =>
      decodeReply(GetServerCapabilitiesResponse, "/get_server_capabilities", replyJson(submitted.reply))
    ),
    Effect.map((reply): BackendCapabilities => {
      const sous = reply.sous
      return {
        backend: "tinker",
        device: sous?.device ?? "remote",
        ...(sous === undefined ? {} : { deviceReason: `a sous server over its ${sous.backend} backend` }),
        // Losses this client has no name for are left out: nothing here could ask for them.
        losses: sous === undefined ? LossFnType.literals : sous.losses.filter(Schema.is(LossFnType)),
        maxLoraRank: sous?.max_lora_rank ?? 32,
        customLoss: true,
        sampling: true,
        durableCheckpoints: true
      }
    }),
    Effect.mapError(unavailable)
  )

/**
 * A {@link TrainingBackend} that trains and samples on a service speaking the Tinker HTTP
 * protocol (Tinker itself, or `sous serve`). Building it reads the key, opens a session and
 * asks the service what it can do; its session heartbeat and requests still running stop
 * when its scope closes.
 */
export const makeTinkerBackend = Effect.fn("TinkerBackend.make")(function*(options: TinkerBackendOptions = {}) {
  const settings = yield* resolveTinkerOptions(options)
  const session = yield* openTinkerSession(makeTinkerHttp(settings))
  const capabilities = yield* fetchCapabilities(session)
  return TrainingBackend.of({
    createTrainingClient: (config: TrainingClientConfig) => makeTinkerTrainingClient(session, config),
    createSamplingClient: (source: StateRef | BaseModelSource) => makeTinkerSamplingClient(session, source),
    capabilities: Effect.succeed(capabilities)
  })
})

/** The Tinker backend as a layer: `Layer.provide(tinkerBackendLayer({ baseUrl }))`. */
export const tinkerBackendLayer = (
  options: TinkerBackendOptions = {}
): Layer.Layer<TrainingBackend, BackendUnavailableError> => Layer.effect(TrainingBackend, makeTinkerBackend(options))
