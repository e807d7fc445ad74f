import type { Effect } from "effect"

/**
 * A submitted request. Training calls are two-phase: submitting returns a `Pending` at
 * once, and `result` waits for the answer. A loop can therefore queue forward/backward and
 * the optimizer step before it waits on either, as remote services reward.
 */
export interface Pending<A, E> {
  readonly result: Effect.Effect<A, E>
}
