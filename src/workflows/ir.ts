import type { Duration, Schedule } from "effect"
import type { Stage } from "../stages/run/stage.js"
import type { StateKey } from "../stages/run/state-key.js"

/**
 * The workflow IR: a plain-data tree that the builders produce and that the validator,
 * the runner and the plan printer all read. Nothing here runs anything.
 *
 * Positions in the tree (cursors, problem paths, `StageContext.position`) are arrays of
 * indices, one per node between the root and the target, see `cursor.ts`.
 */

/**
 * What a `when` test sees: the step counter, the current iteration of each enclosing loop
 * and how many iterations each runs (so a test can tell the last one).
 */
export interface WhenView {
  readonly step: number
  readonly loops: Readonly<Record<string, number>>
  readonly loopTimes: Readonly<Record<string, number>>
}

/**
 * A stage's retry policy with its error type erased: the builder checked the types, and
 * only that stage's own errors ever reach it.
 */
export interface RetryPolicy {
  readonly schedule: Schedule.Schedule<unknown, unknown>
  readonly isRetryable: (error: unknown) => boolean
}

/** Runs one stage, with optional retry and per-attempt timeout. */
export interface StageNode<E, R> {
  readonly _tag: "Stage"
  readonly stage: Stage<E, R>
  readonly retry?: RetryPolicy
  /** Limit for each attempt; a retry gets a fresh limit. */
  readonly timeout?: Duration.Duration
}

/** Runs its children one after another. */
export interface SequenceNode<E, R> {
  readonly _tag: "Sequence"
  /** Shown by the plan printer; purely descriptive. */
  readonly name?: string
  readonly children: ReadonlyArray<WorkflowNode<E, R>>
}

/**
 * How many times a loop runs: a fixed count, or a count read from the run state when the
 * loop starts (`label` says what it means, for the plan).
 */
export type LoopTimes = number | { readonly key: StateKey<number>; readonly label: string }

/** Runs its body `times` times; iterations are numbered from 0. */
export interface LoopNode<E, R> {
  readonly _tag: "Loop"
  /** Unique in a workflow: it keys `StageContext.loops`. */
  readonly name: string
  readonly times: LoopTimes
  readonly body: WorkflowNode<E, R>
}

/** Runs its body only when `test` holds at the moment the node is reached. */
export interface WhenNode<E, R> {
  readonly _tag: "When"
  /** Printable form of the test, e.g. "every 50 steps". */
  readonly label: string
  readonly test: (view: WhenView) => boolean
  readonly body: WorkflowNode<E, R>
}

/** Runs `finalizer` after `body` whether the body succeeded, failed or was interrupted. */
export interface FinallyNode<E, R> {
  readonly _tag: "Finally"
  readonly body: WorkflowNode<E, R>
  readonly finalizer: WorkflowNode<E, R>
}

/** Any node of the tree; `E` and `R` collect the errors and services of its stages. */
export type WorkflowNode<E = unknown, R = unknown> =
  | StageNode<E, R>
  | SequenceNode<E, R>
  | LoopNode<E, R>
  | WhenNode<E, R>
  | FinallyNode<E, R>

/** The error type of a node's stages. */
export type NodeError<N> = N extends WorkflowNode<infer E, infer _R> ? E : never

/** The services a node's stages need. */
export type NodeRequirements<N> = N extends WorkflowNode<infer _E, infer R> ? R : never

/** A named tree plus the state keys that exist before any stage runs. */
export interface Workflow<E = unknown, R = unknown> {
  readonly name: string
  readonly initial: ReadonlyArray<StateKey<any>>
  readonly root: WorkflowNode<E, R>
}
