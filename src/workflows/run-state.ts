import { Effect, SubscriptionRef } from "effect"
import type { LoopStatus, WorkflowStatus } from "./status.js"

/** Where the interpreter is: the position so far and the enclosing loops. */
export interface Frame {
  readonly path: ReadonlyArray<number>
  readonly loops: ReadonlyArray<LoopStatus>
}

/** The mutable state of one run; only the runner's own fiber touches it. */
export interface RunState {
  /** Committed state values by key name. */
  readonly values: Map<string, unknown>
  /** Successful runs of stages that advance the step. */
  step: number
  readonly status: SubscriptionRef.SubscriptionRef<WorkflowStatus> | undefined
}

/** The frame of child `index` of the node at `frame`. */
export const childFrame = (frame: Frame, index: number): Frame => ({ path: [...frame.path, index], loops: frame.loops })

/** Loop indices by loop name, as stages and `when` tests see them. */
export const loopIndices = (frame: Frame): Record<string, number> =>
  Object.fromEntries(frame.loops.map((loop) => [loop.name, loop.index]))

/** The iteration count of each enclosing loop, by loop name. */
export const loopCounts = (frame: Frame): Record<string, number> =>
  Object.fromEntries(frame.loops.map((loop) => [loop.name, loop.times]))

/** Publishes `status` when the caller asked to observe the run. */
export const publishStatus = (run: RunState, status: WorkflowStatus): Effect.Effect<void> =>
  run.status === undefined ? Effect.void : SubscriptionRef.set(run.status, status)

/** Publishes how the run ended, keeping the last stage and position for the display. */
export const publishPhase = (run: RunState, phase: WorkflowStatus["phase"]): Effect.Effect<void> =>
  run.status === undefined
    ? Effect.void
    : SubscriptionRef.update(run.status, (status) => ({ ...status, phase, step: run.step }))
