import { Effect, Exit, Scope } from "effect"
import type { ServerState, TrainingModel } from "./server-state.js"

/**
 * Frees a model (`unload_model`, or its idle time to live run out): it takes no more
 * requests; once the requests it accepted have started (or been refused behind a gap), its
 * scope closes, the backend frees its weights and optimizer state, and its budget is given
 * back (by the scope's finalizer: until then the memory is still held, so the budget says so).
 */
export const releaseModel = (state: ServerState, model: TrainingModel): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (state.models.get(model.modelId) === model) state.models.delete(model.modelId)
    return model.sequencer.drained.pipe(Effect.andThen(Scope.close(model.scope, Exit.void)), Effect.forkIn(state.scope), Effect.asVoid)
  })

/** Whether a model has gone unused for `ttlMs` at `now`, with none of its requests running. */
export const modelIdle = (model: TrainingModel, now: number, ttlMs: number): boolean =>
  model.inFlight === 0 && now - model.lastUsedAt > ttlMs
