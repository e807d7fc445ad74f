import { Effect, type Scope } from "effect"
import {
  type AdamParams,
  type BackendUnavailableError,
  type Datum,
  type ForwardBackwardOutput,
  ForwardBackwardOutput as ForwardBackwardOutputSchema,
  InvalidRequestError,
  type LossFnConfig,
  type LossFnType,
  type StateRef,
  type TrainingCallError,
  type TrainingClient,
  type TrainingClientConfig
} from "../../ports/index.js"
import type { FutureResult } from "./future-poller.js"
import { chunkBatch } from "./forward-backward-chunks.js"
import {
  CreateModelResponse,
  decodeForwardBackwardOutput,
  encodeForwardBackwardRequest,
  type ForwardBackwardRequestMessage,
  GetInfoResponse,
  LoadWeightsResponse,
  mergeForwardBackwardOutputs,
  OptimStepResponse,
  SaveWeightsForSamplerResponse,
  SaveWeightsResponse,
  zstdCompress
} from "../../protocol/index.js"
import { awaitCall, callError, creationError, decodeReply, type RemoteCall, startCall, type StartedCall } from "./remote-request.js"
import { type RequestTiming, timingMetrics } from "./request-timings.js"
import { jsonBody, replyJson, TinkerRequestError } from "./tinker-http.js"
import type { TinkerSession } from "./tinker-session.js"

/** A forward/backward result: protobuf as asked for, or JSON from a server that has no protobuf form. */
export const decodeLossOutput = (result: FutureResult): Effect.Effect<ForwardBackwardOutput, TinkerRequestError> =>
  result.json === undefined
    ? Effect.try({
      try: () => decodeForwardBackwardOutput(result.reply.body),
      catch: (error) =>
        new TinkerRequestError({
          endpoint: "/forward_backward",
          kind: "failed",
          message: `/forward_backward answered a protobuf result that cannot be read: ${String(error)}`,
          cause: error
        })
    })
    : decodeReply(ForwardBackwardOutputSchema, "/forward_backward", result.json)

/** The request of one forward/backward chunk: protobuf, zstd-compressed when the server asks for it. */
const chunkCall = (message: ForwardBackwardRequestMessage, compress: boolean): RemoteCall<ForwardBackwardOutput> => {
  const bytes = encodeForwardBackwardRequest(message)
  return {
    request: {
      endpoint: "/forward_backward",
      body: {
        bytes: compress ? zstdCompress(bytes) : bytes,
        contentType: "application/x-protobuf",
        contentEncoding: compress ? "zstd" : undefined
      }
    },
    requestType: message.forward_only ? "Forward" : "ForwardBackward",
    acceptProto: true,
    decode: decodeLossOutput
  }
}

/** What `create_model` is told: the base model, LoRA settings and the sous architecture extension. */
const createModelBody = (sessionId: string, modelSeqId: number, config: TrainingClientConfig) => {
  const lora = config.lora
  return {
    session_id: sessionId,
    model_seq_id: modelSeqId,
    base_model: config.baseModel,
    // sous extension: a server over a local backend builds the model from its architecture.
    ...(config.architecture === undefined ? {} : {
      user_metadata: {
        sous: {
          architecture: config.architecture,
          seed: config.seed,
          ...(lora?.alpha === undefined ? {} : { alpha: lora.alpha })
        }
      }
    }),
    ...(lora === undefined ? {} : {
      lora_config: {
        rank: lora.rank,
        seed: config.seed,
        train_unembed: lora.trainUnembed ?? true,
        train_mlp: lora.trainMlp ?? true,
        train_attn: lora.trainAttn ?? true
      }
    }),
    type: "create_model"
  }
}

/**
 * A {@link TrainingClient} of one model on a Tinker service. Every call numbers its requests
 * (`seq_id` 1, 2, 3, ...) when it is made, starts them, and returns at once; the server
 * runs them in `seq_id` order. Forward/backward batches are cut into chunks at the server's
 * limits, one request each, and their results merged. Each optimizer step reports, besides
 * the server's metrics, the time its requests took (`remote_*_ms`, `remote_retries`).
 */
export const makeTinkerTrainingClient = Effect.fn("TinkerTrainingClient.make")(
  function*(
    session: TinkerSession,
    config: TrainingClientConfig
  ): Effect.fn.Return<TrainingClient["Service"], TrainingCallError | BackendUnavailableError, Scope.Scope> {
    const creating = creationError("createTrainingClient")
    const created = yield* awaitCall(session, {
      request: { endpoint: "/create_model", body: jsonBody(createModelBody(session.sessionId, session.nextModelSeqId(), config)) },
      requestType: "CreateModel",
      acceptProto: false,
      decode: (result) => decodeReply(CreateModelResponse, "/create_model", result.json)
    }).pipe(Effect.mapError(creating))
    const modelId = created.model_id
    // Done with the model when the caller's scope closes: the service can free it. Best
    // effort and bounded, so a server that has gone away does not hold up the end of a run.
    yield* Effect.addFinalizer(() =>
      session.http.submit({ endpoint: "/unload_model", body: jsonBody({ model_id: modelId, type: "unload_model" }) }).pipe(
        Effect.timeout("10 seconds"),
        Effect.ignore
      )
    )
    const info = yield* session.http.submit({
      endpoint: "/get_info",
      body: jsonBody({ model_id: modelId, type: "get_info" })
    }).pipe(
      Effect.flatMap((submitted) => decodeReply(GetInfoResponse, "/get_info", replyJson(submitted.reply))),
      Effect.mapError(creating)
    )

    let lastSeqId = 0
    // Timings of the forward/backward requests since the last optimizer step.
    let stepTimings: Array<Effect.Effect<RequestTiming>> = []

    const jsonCall = <A>(
      endpoint: string,
      requestType: string,
      body: Record<string, unknown>,
      decode: (result: FutureResult) => Effect.Effect<A, TinkerRequestError>
    ): Effect.Effect<StartedCall<A>> => {
      lastSeqId += 1
      return startCall(session, {
        request: { endpoint, body: jsonBody({ ...body, model_id: modelId, seq_id: lastSeqId }) },
        requestType,
        acceptProto: false,
        decode
      })
    }

    const lossCall = (operation: "forward" | "forwardBackward") =>
      Effect.fn(`TinkerTrainingClient.${operation}`)(
        function*(data: ReadonlyArray<Datum>, lossFn: LossFnType, lossConfig?: LossFnConfig) {
          if (data.length === 0) return yield* new InvalidRequestError({ operation, message: "the batch has no datums" })
          const chunks = chunkBatch(data, session.limits)
          // Numbered and encoded in one synchronous step, so no other call takes a seq_id in
          // between, and the seq_ids are taken only once every chunk is encoded: a datum that
          // cannot be sent leaves no gap in the sequence the server waits on.
          const calls = yield* Effect.try({
            try: () => {
              const numbered = chunks.map((chunk, index) =>
                chunkCall({
                  model_id: modelId,
                  seq_id: lastSeqId + 1 + index,
                  data: chunk,
                  loss_fn: lossFn,
                  loss_fn_config: lossConfig ?? {},
                  forward_only: operation === "forward"
                }, session.limits.compress)
              )
              lastSeqId += numbered.length
              return numbered
            },
            catch: (error) => new InvalidRequestError({ operation, message: `the batch cannot be encoded: ${String(error)}`, cause: error })
          })
          // The first chunk goes last: the server runs none before it, so by then the whole
          // batch is there to be picked up together.
          const started: Array<StartedCall<ForwardBackwardOutput>> = new Array(calls.length)
          for (const index of [...calls.keys()].slice(1)) started[index] = yield* startCall(session, calls[index]!)
          started[0] = yield* startCall(session, calls[0]!)
          if (operation === "forwardBackward") stepTimings.push(...started.map((call) => call.timing))
          return {
            result: Effect.all(started.map((call) => call.result)).pipe(
              Effect.map((outputs) => outputs.length === 1 ? outputs[0]! : mergeForwardBackwardOutputs(outputs)),
              Effect.mapError(callError(operation, false))
            )
          }
        }
      )

    const optimStep = Effect.fn("TinkerTrainingClient.optimStep")(function*(adam: AdamParams) {
      const previous = stepTimings
      stepTimings = []
      const call = yield* jsonCall(
        "/optim_step",
        "OptimStep",
        { adam_params: adam, type: "optim_step" },
        (result) => decodeReply(OptimStepResponse, "/optim_step", result.json)
      )
      return {
        result: Effect.gen(function*() {
          const output = yield* call.result
          const timings = yield* Effect.all([...previous, call.timing])
          return { metrics: { ...output.metrics ?? {}, ...timingMetrics(timings) } }
        }).pipe(Effect.mapError(callError("optimStep", false)))
      }
    })

    const save = (
      operation: string,
      endpoint: string,
      requestType: string,
      schema: typeof SaveWeightsResponse | typeof SaveWeightsForSamplerResponse
    ) =>
      Effect.fn(`TinkerTrainingClient.${operation}`)(function*(name: string) {
        const call = yield* jsonCall(endpoint, requestType, { path: name, type: endpoint.slice(1) }, (result) =>
          decodeReply(schema, endpoint, result.json).pipe(
            Effect.flatMap(({ path }) =>
              path === undefined
                ? Effect.fail(new TinkerRequestError({ endpoint, kind: "failed", message: `${endpoint} answered without a path` }))
                : Effect.succeed<StateRef>({ _tag: "Remote", path })
            )
          ))
        return { result: Effect.mapError(call.result, callError(operation, false)) }
      })

    const loadState = Effect.fn("TinkerTrainingClient.loadState")(
      function*(ref: StateRef, options: { readonly optimizer: boolean }) {
        if (ref._tag === "Bytes") {
          return yield* new InvalidRequestError({
            operation: "loadState",
            message: "a remote service loads tinker:// paths (from saveState), not checkpoint bytes saved by a local backend"
          })
        }
        const call = yield* jsonCall(
          "/load_weights",
          "LoadWeights",
          { path: ref.path, optimizer: options.optimizer, type: "load_weights" },
          (result) => decodeReply(LoadWeightsResponse, "/load_weights", result.json)
        )
        return { result: call.result.pipe(Effect.asVoid, Effect.mapError(callError("loadState", false))) }
      }
    )

    return {
      forward: lossCall("forward"),
      forwardBackward: lossCall("forwardBackward"),
      optimStep,
      saveState: save("saveState", "/save_weights", "SaveWeights", SaveWeightsResponse),
      saveWeightsForSampler: save("saveWeightsForSampler", "/save_weights_for_sampler", "SaveWeightsForSampler", SaveWeightsForSamplerResponse),
      loadState,
      info: Effect.succeed({
        modelId,
        baseModel: config.baseModel,
        parameterCount: info.sous?.parameter_count ?? 0,
        device: info.sous?.device ?? "remote"
      })
    }
  }
)
