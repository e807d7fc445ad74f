import { Effect, Schema } from "effect"
import { messageOf } from "../../ports/thrown-message.js"
import { inputLength, LossFnType, type Pending, type StateRef, TrainingError } from "../../ports/index.js"
import { estimateStepActivations } from "../../adapters/local/index.js"
import {
  decodeForwardBackwardRequest,
  LoadWeightsRequest,
  type LoadWeightsResponse,
  OptimStepRequest,
  readForwardBackwardTurn,
  SaveWeightsForSamplerRequest,
  type SaveWeightsForSamplerResponse,
  SaveWeightsRequest,
  type SaveWeightsResponse
} from "../../protocol/index.js"
import { maxTtlSeconds } from "../checkpoint-ttl.js"
import type { FutureResult } from "../future-store.js"
import type { BackendCallError } from "../future-runner.js"
import { HttpFailure } from "../http-reply.js"
import { formatBytes } from "../resource-budget.js"
import type { Route, RouteRequest, ServerState } from "../server-state.js"
import { type CheckpointPath, checkpointNameProblem, formatCheckpointPath, parseCheckpointPath } from "../state-paths.js"
import { openSavedSampler } from "./sampling-routes.js"
import { decodeSequencedBody, refuseInTurn, sequencedRequest } from "./sequenced-request.js"

const json = (body: unknown): FutureResult => ({ _tag: "Json", body })

/**
 * A request's `ttl_seconds` as the time to live of what it makes; none (the server's idle time
 * to live) when absent or not positive. At most {@link maxTtlSeconds}: a longer one is for
 * ever in practice, and would be past the last date the server can print.
 */
const ttlMsOf = (ttlSeconds: number | undefined): number | undefined =>
  ttlSeconds !== undefined && ttlSeconds > 0 ? Math.min(ttlSeconds, maxTtlSeconds) * 1000 : undefined

/** The bytes of a saved state; this server keeps checkpoints as files, so it needs them. */
const stateBytes = (operation: string, ref: StateRef): Effect.Effect<Uint8Array, TrainingError> =>
  ref._tag === "Bytes"
    ? Effect.succeed(ref.bytes)
    : Effect.fail(new TrainingError({ operation, message: `the backend kept the state at ${ref.path}; sous serve stores states as bytes`, retryable: false }))

/** A checkpoint name that stays inside the state directory; a 400 that still takes its turn otherwise. */
const checkpointName = (
  state: ServerState,
  request: RouteRequest,
  body: { readonly model_id: string; readonly seq_id: number },
  name: string
) => {
  const problem = checkpointNameProblem(name)
  return problem === undefined
    ? Effect.succeed(name)
    : refuseInTurn(state, request, body.model_id, body.seq_id, new HttpFailure({ status: 400, message: `path: ${problem}` }))
}

/** `forward_backward` (and `forward`, with `forward_only`): a protobuf body, maybe zstd-compressed. */
const forwardBackward = (state: ServerState) => (request: RouteRequest) =>
  Effect.gen(function*() {
    const message = yield* Effect.try({
      try: () => decodeForwardBackwardRequest(request.body),
      catch: (error) => new HttpFailure({ status: 400, message: `invalid ForwardBackwardRequest: ${messageOf(error)}`, cause: error })
    }).pipe(
      // Undecodable data (an image chunk, say) still takes its turn when model and seq_id read.
      Effect.catchTag("HttpFailure", (failure) => {
        const turn = readForwardBackwardTurn(request.body)
        return turn === undefined ? Effect.fail(failure) : refuseInTurn(state, request, turn.model_id, turn.seq_id, failure)
      })
    )
    const lossFn = message.loss_fn
    if (!Schema.is(LossFnType)(lossFn)) {
      return yield* refuseInTurn(state, request, message.model_id, message.seq_id, new HttpFailure({
        status: 400,
        message: `loss_fn: expected one of ${LossFnType.literals.join(", ")}, got ${JSON.stringify(lossFn)}`
      }))
    }
    // The batch's activations, like the model, must fit what the key has left: a small model
    // with a long context could otherwise take the machine's memory in one request.
    const held = state.models.get(message.model_id)
    const architecture = held?.owner === request.tenant.name ? held.architecture : undefined
    if (architecture !== undefined) {
      const bytes = estimateStepActivations(architecture, message.data.map((datum) => inputLength(datum.model_input)))
      const problem = state.budget.transientProblem(
        request.tenant,
        bytes,
        `the activations of ${message.data.length} rows need ${formatBytes(bytes)}`,
        message.forward_only ? "forward" : "forward_backward"
      )
      if (problem !== undefined) {
        return yield* refuseInTurn(state, request, message.model_id, message.seq_id, new HttpFailure({ status: 413, message: problem }))
      }
    }
    return yield* sequencedRequest(state, request, message.model_id, message.seq_id, ({ client, submit }) =>
      submit({
        submit: (message.forward_only ? client.forward : client.forwardBackward)(message.data, lossFn, message.loss_fn_config),
        finish: (output) => Effect.succeed<FutureResult>({ _tag: "ForwardBackward", output })
      }))
  })

/** `optim_step`: counted in the server's stats once applied. */
const optimStep = (state: ServerState) => (request: RouteRequest) =>
  Effect.gen(function*() {
    const body = yield* decodeSequencedBody(state, request, OptimStepRequest)
    return yield* sequencedRequest(state, request, body.model_id, body.seq_id, ({ client, model, submit }) =>
      submit({
        submit: client.optimStep(body.adam_params),
        finish: (output) =>
          Effect.sync(() => {
            state.stats.optimizerStepApplied(model.modelId)
            return json({ metrics: output.metrics })
          })
      }))
  })

/**
 * Saves a state under `checkpoint` when its turn comes: the file is announced before the
 * backend saves, so a load queued behind it waits for the file. `ttlMs` (the request's
 * `ttl_seconds`) has it deleted that long after.
 */
const saveCheckpoint = <E extends BackendCallError>(
  state: ServerState,
  owner: string,
  checkpoint: CheckpointPath,
  options: { readonly overwrite: boolean; readonly ttlMs: number | undefined },
  save: Effect.Effect<Pending<StateRef, E>, E>
): Effect.Effect<Pending<string, E | BackendCallError>, E> =>
  Effect.suspend(() => {
    const reservation = state.weights.reserve(owner, checkpoint)
    return save.pipe(
      Effect.map((pending) => ({
        result: pending.result.pipe(
          Effect.flatMap((ref) => stateBytes("saveWeights", ref)),
          Effect.flatMap((bytes) => reservation.write(bytes, options.overwrite, options.ttlMs)),
          Effect.as(formatCheckpointPath(checkpoint)),
          // A save that fails (or never runs) must not leave loads of the file waiting.
          Effect.ensuring(Effect.sync(reservation.abandon))
        )
      })),
      Effect.tapCause(() => Effect.sync(reservation.abandon))
    )
  })

/** `save_weights`: weights and optimizer state, as `tinker://<model_id>/weights/<name>`. */
const saveWeights = (state: ServerState) => (request: RouteRequest) =>
  Effect.gen(function*() {
    const body = yield* decodeSequencedBody(state, request, SaveWeightsRequest)
    const name = yield* checkpointName(state, request, body, body.path)
    return yield* sequencedRequest(state, request, body.model_id, body.seq_id, ({ client, model, submit }) =>
      submit({
        submit: saveCheckpoint(
          state,
          model.owner,
          { modelId: model.modelId, kind: "weights", name },
          { overwrite: body.overwrite, ttlMs: ttlMsOf(body.ttl_seconds) },
          client.saveState(name)
        ),
        finish: (path) => Effect.succeed(json({ path, type: "save_weights" } satisfies SaveWeightsResponse))
      }))
  })

/**
 * `save_weights_for_sampler`: named weights as `tinker://<model_id>/sampler_weights/<name>`
 * (replacing any of that name: a sampler refreshed every step may reuse it), or, without a
 * name, a sampling session over the weights, as the SDK's `save_weights_and_get_sampling_client` asks.
 */
const saveWeightsForSampler = (state: ServerState) => (request: RouteRequest) =>
  Effect.gen(function*() {
    const body = yield* decodeSequencedBody(state, request, SaveWeightsForSamplerRequest)
    const name = body.path === undefined ? undefined : yield* checkpointName(state, request, body, body.path)
    const samplingSeq = body.sampling_session_seq_id
    if (name === undefined && samplingSeq === undefined) {
      return yield* refuseInTurn(state, request, body.model_id, body.seq_id, new HttpFailure({
        status: 400,
        message: "path or sampling_session_seq_id: give a name to save under, or a sampling session to create"
      }))
    }
    return yield* sequencedRequest(state, request, body.model_id, body.seq_id, ({ client, model, submit }) => {
      if (name !== undefined) {
        const checkpoint: CheckpointPath = { modelId: model.modelId, kind: "sampler_weights", name }
        return submit({
          submit: saveCheckpoint(state, model.owner, checkpoint, { overwrite: true, ttlMs: ttlMsOf(body.ttl_seconds) }, client.saveWeightsForSampler(name)),
          finish: (path) => Effect.succeed(json({ path, type: "save_weights_for_sampler" } satisfies SaveWeightsForSamplerResponse))
        })
      }
      const samplingSessionId = `${model.sessionId}:sample:${samplingSeq}`
      return submit({
        submit: client.saveWeightsForSampler(`${samplingSessionId}`),
        finish: (ref) =>
          stateBytes("saveWeightsForSampler", ref).pipe(
            Effect.flatMap((bytes) =>
              openSavedSampler(state, request.tenant, samplingSessionId, { architecture: model.architecture, ttlMs: ttlMsOf(body.ttl_seconds) }, bytes)
            ),
            Effect.tap(() =>
              Effect.sync(() => state.samplerSources.set(samplingSessionId, { owner: model.owner, baseModel: model.baseModel, modelPath: undefined }))
            ),
            // No file and so no path: the SDK reads the session id alone here.
            Effect.as(json({ sampling_session_id: samplingSessionId, type: "save_weights_for_sampler" }))
          )
      })
    })
  })

/** `load_weights`: a `tinker://` state of this server; the file is read when its turn comes. */
const loadWeights = (state: ServerState) => (request: RouteRequest) =>
  Effect.gen(function*() {
    const body = yield* decodeSequencedBody(state, request, LoadWeightsRequest)
    const checkpoint = parseCheckpointPath(body.path)
    if (typeof checkpoint === "string") {
      return yield* refuseInTurn(state, request, body.model_id, body.seq_id, new HttpFailure({ status: 400, message: `path: ${checkpoint}` }))
    }
    return yield* sequencedRequest(state, request, body.model_id, body.seq_id, ({ client, model, submit }) =>
      submit({
        submit: state.weights.read(model.owner, checkpoint).pipe(
          Effect.flatMap((bytes) => client.loadState({ _tag: "Bytes", bytes }, { optimizer: body.optimizer }))
        ),
        finish: () => Effect.succeed(json({ path: body.path, model_id: model.modelId, type: "load_weights" } satisfies LoadWeightsResponse))
      }))
  })

/** The routes that train a model: each runs in the model's `seq_id` order. */
export const trainingRoutes = (state: ServerState): ReadonlyArray<Route> => [
  { method: "POST", path: "/forward_backward", body: "application/x-protobuf", kind: "submission", handle: forwardBackward(state) },
  { method: "POST", path: "/optim_step", body: "application/json", kind: "submission", handle: optimStep(state) },
  { method: "POST", path: "/save_weights", body: "application/json", kind: "submission", handle: saveWeights(state) },
  {
    method: "POST",
    path: "/save_weights_for_sampler",
    body: "application/json",
    kind: "submission",
    handle: saveWeightsForSampler(state)
  },
  { method: "POST", path: "/load_weights", body: "application/json", kind: "submission", handle: loadWeights(state) }
]
