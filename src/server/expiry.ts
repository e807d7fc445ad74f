import { Effect } from "effect"
import { modelIdle, releaseModel } from "./model-lifecycle.js"
import type { ServerState } from "./server-state.js"

/**
 * Frees what has gone unused for its time to live: results nobody polled for the futures'
 * time to live, checkpoints saved with a `ttl_seconds` that has run out, and, for the idle
 * time to live, models with no request running (unloaded,
 * their budget given back), idle sampling sessions (unless their `ttl_seconds` said
 * otherwise), and client sessions with neither heartbeats nor models (with the create_model
 * retries and sampler descriptions kept for them).
 */
export const sweepExpired = (state: ServerState, now: number): Effect.Effect<void> =>
  Effect.gen(function*() {
    const ttlMs = state.options.idleTtlMs
    state.futures.sweep()
    const idle = [...state.models.values()].filter((model) => modelIdle(model, now, ttlMs))
    yield* Effect.forEach(idle, (model) => releaseModel(state, model), { discard: true })
    yield* state.samplers.expire(now, ttlMs)
    yield* state.weights.sweep(now)
    const holding = new Set([...state.models.values()].map((model) => model.sessionId))
    for (const [sessionId, session] of state.sessions) {
      if (holding.has(sessionId) || now - session.lastSeenAt <= ttlMs) continue
      state.sessions.delete(sessionId)
      for (const key of state.modelRequests.keys()) if (key.startsWith(`${sessionId}/`)) state.modelRequests.delete(key)
      for (const id of state.samplerSources.keys()) if (id.startsWith(`${sessionId}:sample:`)) state.samplerSources.delete(id)
    }
  })

/** How often the server sweeps: often enough that nothing outlives its time to live by more than a quarter of it, and at least once a minute. */
export const sweepIntervalMs = (state: ServerState): number =>
  Math.max(10, Math.min(state.options.idleTtlMs / 4, state.options.futureTtlMs, 60_000))
