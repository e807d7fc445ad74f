import { Deferred, Effect, type Schema } from "effect"
import type { Pending, TrainingClient } from "../../ports/index.js"
import { type BackendCallError, submitFuture } from "../future-runner.js"
import type { FutureHandle, FutureResult, Retention } from "../future-store.js"
import { HttpFailure, jsonReply, type Reply } from "../http-reply.js"
import { type SequenceRefusal, sequenceRefusalMessage } from "../model-sequencer.js"
import { decodeJsonBody } from "../request-body.js"
import type { RouteRequest, ServerState, TrainingModel } from "../server-state.js"
import { formatCheckpointPath } from "../state-paths.js"

/**
 * The model a request names, marked as used now; 404 if the caller's key holds none by that
 * id (another key's model reads as one that does not exist).
 */
export const modelOf = (state: ServerState, request: RouteRequest, modelId: string): Effect.Effect<TrainingModel, HttpFailure> => {
  const model = state.models.get(modelId)
  if (model === undefined || model.owner !== request.tenant.name) {
    const plain = `unknown model_id ${JSON.stringify(modelId)}: create it with create_model first`
    const refuse = (lastState?: string) => new HttpFailure({ status: 404, message: state.instance.unknown("model_id", modelId, plain, lastState) })
    if (state.instance.otherRun(modelId) === undefined) return Effect.fail(refuse())
    // A model lost in a restart: the message names the last state it saved (the caller's key's own files).
    return Effect.flatMap(state.checkpoints.list(request.tenant.name, modelId), (saved) => {
      const last = saved.find((entry) => entry.checkpoint.kind === "weights")
      return Effect.fail(refuse(last === undefined ? undefined : formatCheckpointPath(last.checkpoint)))
    })
  }
  model.lastUsedAt = Date.now()
  return Effect.succeed(model)
}

/**
 * How a training request's result is kept: until its client has retrieved it, while `model`
 * is held (the Python SDK cannot resubmit a training request whose result expired).
 */
export const keptWhileHeld = (state: ServerState, modelId: string): Retention => ({
  _tag: "keep",
  alive: () => state.models.has(modelId)
})

/** `future`, counted among `model`'s requests in flight until it settles (a busy model is not idle). */
const inFlightFuture = (model: TrainingModel, future: FutureHandle): FutureHandle => {
  model.inFlight += 1
  let settled = false
  return {
    requestId: future.requestId,
    complete: (outcome) => {
      if (!settled) {
        settled = true
        model.inFlight -= 1
        model.lastUsedAt = Date.now()
      }
      future.complete(outcome)
    }
  }
}

/** Fails `future` for a request the model's sequencer refused (see {@link SequenceRefusal}). */
const refuseFuture = (future: FutureHandle, modelId: string, arrivedAt: number) => (refusal: SequenceRefusal) =>
  Effect.sync(() =>
    future.complete({
      _tag: "Failed",
      error: sequenceRefusalMessage(modelId, refusal),
      category: "user",
      timings: { queueMs: Date.now() - arrivedAt, computeMs: 0 }
    })
  )

/** The answer to a submission: the future to poll, as the protocol's `UntypedAPIFuture`. */
export const futureReply = (requestId: string, modelId?: string): Reply =>
  jsonReply(modelId === undefined ? { request_id: requestId } : { request_id: requestId, model_id: modelId })

/**
 * Submits a request's backend call in its turn and settles its future with `finish`'s result
 * (see {@link submitFuture}); the future, timeline and scope are the request's own.
 */
export type SubmitInTurn = <A, E extends BackendCallError>(call: {
  readonly submit: Effect.Effect<Pending<A, E>, E>
  readonly finish: (value: A) => Effect.Effect<FutureResult, BackendCallError>
}) => Effect.Effect<void>

/**
 * Queues a request of `model` in `seq_id` order and answers its future. A seq_id seen before
 * gets the first request's future back (nothing is applied twice); one whose result has
 * expired, or applied too long ago to remember, gets a future that fails and says so. `start` submits the request to the
 * backend once every lower seq_id has been submitted and the model's client exists.
 */
export const sequencedRequest = (
  state: ServerState,
  request: RouteRequest,
  modelId: string,
  seqId: number,
  start: (turn: { readonly client: TrainingClient["Service"]; readonly model: TrainingModel; readonly submit: SubmitInTurn }) => Effect.Effect<void>
): Effect.Effect<Reply, HttpFailure> =>
  Effect.gen(function*() {
    const model = yield* modelOf(state, request, modelId)
    if (!(Number.isSafeInteger(seqId) && seqId >= 1)) {
      return yield* new HttpFailure({ status: 400, message: `seq_id must be an integer >= 1 (the first request after create_model is 1), got ${seqId}` })
    }
    const offer = model.sequencer.offer(seqId, () => {
      const future = inFlightFuture(model, state.futures.create(request.tenant.name, keptWhileHeld(state, model.modelId)))
      const turn = Deferred.await(model.client).pipe(
        Effect.matchEffect({
          onFailure: (error) =>
            Effect.sync(() =>
              future.complete({
                _tag: "Failed",
                error: `model ${modelId} could not be created: ${error.message}`,
                category: error._tag === "InvalidRequestError" ? "user" : "server",
                timings: { queueMs: Date.now() - request.arrivedAt, computeMs: 0 }
              })
            ),
          onSuccess: (client) =>
            start({
              client,
              model,
              submit: (call) => submitFuture({ ...call, future, timeline: model.timeline, arrivedAt: request.arrivedAt, scope: state.scope })
            })
        })
      )
      return { requestId: future.requestId, start: turn, refuse: refuseFuture(future, modelId, request.arrivedAt) }
    })
    // Applied once already, and its result gone: the client learns that, instead of being sent
    // to the expired future again (which would answer 410, "submit again", for ever).
    const appliedAndForgotten = () => {
      const future = state.futures.create(request.tenant.name, keptWhileHeld(state, modelId))
      future.complete({
        _tag: "Failed",
        error: `seq_id ${seqId} of model ${modelId} was applied long ago and its result is no longer kept`,
        category: "user",
        timings: { queueMs: 0, computeMs: 0 }
      })
      return futureReply(future.requestId, modelId)
    }
    switch (offer._tag) {
      case "Accepted":
        return futureReply(offer.requestId, modelId)
      case "Duplicate":
        return state.futures.lookup(offer.requestId, request.tenant.name)._tag === "Live" ? futureReply(offer.requestId, modelId) : appliedAndForgotten()
      case "Stale":
        return appliedAndForgotten()
      case "TooFarAhead":
        return yield* new HttpFailure({
          status: 400,
          message: `seq_id ${seqId} is too far ahead of model ${modelId}'s next seq_id ${offer.next}`
        })
    }
  })

/**
 * Refuses a request whose model and seq_id could be read with `failure` (a 400), and still
 * takes its seq_id, with a future that fails the same way: a client numbers its requests as
 * it makes them and sends them in parallel, so the ones after a refused one must not wait
 * for it forever. A retry of that seq_id gets the failed future.
 */
export const refuseInTurn = (
  state: ServerState,
  request: RouteRequest,
  modelId: string,
  seqId: number,
  failure: HttpFailure
): Effect.Effect<never, HttpFailure> =>
  Effect.suspend(() => {
    const model = state.models.get(modelId)
    // Only the owner's requests take the model's seq_ids: another key must not move its queue.
    if (model !== undefined && model.owner === request.tenant.name && Number.isSafeInteger(seqId) && seqId >= 1) {
      model.sequencer.offer(seqId, () => {
        const future = state.futures.create(request.tenant.name, keptWhileHeld(state, model.modelId))
        const start = Effect.sync(() =>
          future.complete({ _tag: "Failed", error: failure.message, category: "user", timings: { queueMs: 0, computeMs: 0 } })
        )
        // Behind a gap that times out, its own refusal is still the news.
        return { requestId: future.requestId, start, refuse: () => start }
      })
    }
    return Effect.fail(failure)
  })

// The model and seq_id of a JSON body that failed its schema, if they can be read at all.
const readableTurn = (body: Uint8Array): { readonly modelId: string; readonly seqId: number } | undefined => {
  try {
    const parsed: unknown = JSON.parse(new TextDecoder().decode(body))
    if (typeof parsed !== "object" || parsed === null) return undefined
    const { model_id: modelId, seq_id: seqId } = parsed as { model_id?: unknown; seq_id?: unknown }
    return typeof modelId === "string" && typeof seqId === "number" ? { modelId, seqId } : undefined
  } catch {
    return undefined
  }
}

/**
 * Decodes the JSON body of a request that runs in seq_id order; a body the schema refuses is
 * a 400 that names the field, and if its model and seq_id can be read it still takes its turn
 * (see {@link refuseInTurn}).
 */
export const decodeSequencedBody = <A, I>(state: ServerState, request: RouteRequest, schema: Schema.Codec<A, I>): Effect.Effect<A, HttpFailure> =>
  decodeJsonBody(schema, request.body).pipe(
    Effect.catchTag("HttpFailure", (failure) => {
      const turn = readableTurn(request.body)
      return turn === undefined ? Effect.fail(failure) : refuseInTurn(state, request, turn.modelId, turn.seqId, failure)
    })
  )
