import { Duration, Predicate, type Schedule } from "effect"
import type { Stage } from "../stages/run/stage.js"
import type { StateKey } from "../stages/run/state-key.js"
import type { StageTimeoutError } from "./errors.js"
import type {
  FinallyNode,
  LoopNode,
  LoopTimes,
  NodeError,
  NodeRequirements,
  RetryPolicy,
  SequenceNode,
  StageNode,
  WhenNode,
  WhenView,
  Workflow,
  WorkflowNode
} from "./ir.js"

/** The `_tag` values of an error union, for naming retryable errors. */
export type ErrorTag<E> = E extends { readonly _tag: infer Tag extends string } ? Tag : never

/** When to try a failing stage again. */
export interface StageRetryOptions<E> {
  /** Delays and limits between attempts, e.g. `Schedule.exponential("1 second").pipe(Schedule.both(Schedule.recurs(3)))`. */
  readonly schedule: Schedule.Schedule<unknown, E | StageTimeoutError>
  /**
   * Which errors are worth another attempt: a list of `_tag`s or a predicate. By default,
   * errors whose `retryable` field is `true` (see `TrainingError`); a timeout is retried only
   * when named here.
   */
  readonly retryOn?: ReadonlyArray<ErrorTag<E | StageTimeoutError>> | ((error: E | StageTimeoutError) => boolean)
}

/** Options of a stage node. */
export interface StageOptions<E> {
  readonly retry?: StageRetryOptions<E>
  /** Limit for each attempt; an attempt that runs over fails with `StageTimeoutError`. */
  readonly timeout?: Duration.Input
}

const hasRetryableFlag = (error: unknown): boolean =>
  Predicate.hasProperty(error, "retryable") && error.retryable === true

const retryableBy = <E>(retryOn: StageRetryOptions<E>["retryOn"]): ((error: unknown) => boolean) => {
  if (retryOn === undefined) return hasRetryableFlag
  // Erasing the error type is sound: the policy only ever sees this stage's own errors.
  if (Predicate.isFunction(retryOn)) return retryOn as (error: unknown) => boolean
  const tags = new Set<unknown>(retryOn)
  return (error) => Predicate.hasProperty(error, "_tag") && tags.has(error._tag)
}

const retryPolicy = <E>(options: StageRetryOptions<E>): RetryPolicy => ({
  schedule: options.schedule as Schedule.Schedule<unknown, unknown>,
  isRetryable: retryableBy(options.retryOn)
})

/** A node that runs one stage, with optional retry and per-attempt timeout. */
export const stage = <E, R>(definition: Stage<E, R>, options: StageOptions<NoInfer<E>> = {}): StageNode<E, R> => ({
  _tag: "Stage",
  stage: definition,
  ...(options.retry === undefined ? {} : { retry: retryPolicy(options.retry) }),
  ...(options.timeout === undefined ? {} : { timeout: Duration.fromInputUnsafe(options.timeout) })
})

/** A node that runs its children in order; pass a name first to label it in the plan. */
export function sequence<const Children extends ReadonlyArray<WorkflowNode>>(
  ...children: Children
): SequenceNode<NodeError<Children[number]>, NodeRequirements<Children[number]>>
export function sequence<const Children extends ReadonlyArray<WorkflowNode>>(
  name: string,
  ...children: Children
): SequenceNode<NodeError<Children[number]>, NodeRequirements<Children[number]>>
export function sequence(...args: ReadonlyArray<string | WorkflowNode>): SequenceNode<unknown, unknown> {
  const [first, ...rest] = args
  return typeof first === "string"
    ? { _tag: "Sequence", name: first, children: rest as ReadonlyArray<WorkflowNode> }
    : { _tag: "Sequence", children: args as ReadonlyArray<WorkflowNode> }
}

/**
 * A node that runs `body` `times` times. `times` is a number or a state key read when the
 * loop starts, with a label for the plan. Iterations are numbered from 0 and visible to
 * stages as `StageContext.loops[name]`.
 */
export const loop = <Body extends WorkflowNode>(options: {
  readonly name: string
  readonly times: LoopTimes
  readonly body: Body
}): LoopNode<NodeError<Body>, NodeRequirements<Body>> => ({
  _tag: "Loop",
  name: options.name,
  times: options.times,
  body: options.body as WorkflowNode<NodeError<Body>, NodeRequirements<Body>>
})

/** A node that runs `body` only if `test` holds when the node is reached. */
export const when = <Body extends WorkflowNode>(options: {
  /** Printable form of the test, e.g. "every 50 steps". */
  readonly label: string
  readonly test: (view: WhenView) => boolean
  readonly body: Body
}): WhenNode<NodeError<Body>, NodeRequirements<Body>> => ({
  _tag: "When",
  label: options.label,
  test: options.test,
  body: options.body as WorkflowNode<NodeError<Body>, NodeRequirements<Body>>
})

/**
 * A node that runs `finalizer` after `body` whether the body succeeded, failed or was
 * interrupted (named with an underscore because `finally` is a keyword).
 */
export const finally_ = <Body extends WorkflowNode, Finalizer extends WorkflowNode>(
  body: Body,
  finalizer: Finalizer
): FinallyNode<NodeError<Body | Finalizer>, NodeRequirements<Body | Finalizer>> => ({
  _tag: "Finally",
  body: body as WorkflowNode<NodeError<Body>, NodeRequirements<Body>>,
  finalizer: finalizer as WorkflowNode<NodeError<Finalizer>, NodeRequirements<Finalizer>>
})

/** A workflow: a named tree plus the state keys present before any stage runs. */
export const workflow = <Root extends WorkflowNode>(options: {
  readonly name: string
  readonly initial?: ReadonlyArray<StateKey<any>>
  readonly root: Root
}): Workflow<NodeError<Root>, NodeRequirements<Root>> => ({
  name: options.name,
  initial: options.initial ?? [],
  root: options.root as WorkflowNode<NodeError<Root>, NodeRequirements<Root>>
})
