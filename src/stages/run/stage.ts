import type { Effect } from "effect"
import type { StateKey } from "./state-key.js"

/**
 * What a stage sees while it runs. `get` and `set` only accept keys the stage declared;
 * anything else is a defect, so a declaration can never drift from what the code does.
 */
export interface StageContext {
  /** Optimizer steps completed before this stage run (the runner's one step counter). */
  readonly step: number
  /** Index of the current iteration of each enclosing loop, by loop name. */
  readonly loops: Readonly<Record<string, number>>
  /** Position of this stage in the workflow tree (see the runner's cursor). */
  readonly position: ReadonlyArray<number>
  readonly get: <A>(key: StateKey<A>) => A
  readonly set: <A>(key: StateKey<A>, value: A) => void
}

/** One unit of work in a workflow: reads and writes declared state keys through ports. */
export interface Stage<E = never, R = never> {
  readonly name: string
  /** One line for `sous plan`. */
  readonly description: string
  readonly reads: ReadonlyArray<StateKey<any>>
  readonly writes: ReadonlyArray<StateKey<any>>
  /** True for the stage that applies an optimizer step: the runner counts its successes. */
  readonly advancesStep?: boolean
  /**
   * True for a stage that rebuilds state a checkpoint does not hold (loading and rendering
   * the data): a run resumed from a cursor runs it again even though the cursor is past it.
   * It must be deterministic and must not advance the step.
   */
  readonly rerunOnResume?: boolean
  readonly run: (context: StageContext) => Effect.Effect<void, E, R>
  /**
   * Compensation that runs when the stage fails or is interrupted (close a remote session,
   * remove a partial artifact). It must not fail.
   */
  readonly release?: (context: StageContext) => Effect.Effect<void, never, R>
}

/** Declares a stage; keeps its error and requirement types inferred. */
export const defineStage = <E = never, R = never>(stage: Stage<E, R>): Stage<E, R> => stage
