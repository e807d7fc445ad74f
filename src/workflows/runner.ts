import { Cause, Effect, Exit, type SubscriptionRef } from "effect"
import type { MetricsSink } from "../ports/metrics-sink.js"
import { cursorProblems, FINALLY_BODY, FINALLY_FINALIZER, WHEN_BODY, type WorkflowCursor } from "./cursor.js"
import { InvalidLoopTimesError, MissingStateValueError, type StageTimeoutError, WorkflowInvalidError } from "./errors.js"
import type { LoopNode, Workflow, WorkflowNode } from "./ir.js"
import type { WorkflowProblem } from "./problem.js"
import { childFrame, loopCounts, loopIndices, publishPhase, type Frame, type RunState } from "./run-state.js"
import { runStageNode } from "./run-stage.js"
import type { WorkflowStatus } from "./status.js"
import { validateWorkflow } from "./validate.js"

/** How to run a workflow. */
export interface RunWorkflowOptions {
  /** Values of the state keys present before any stage runs (the workflow's `initial`), by key name. */
  readonly initialState?: Readonly<Record<string, unknown>>
  /** Start here instead of at the beginning; see `WorkflowCursor`. */
  readonly cursor?: WorkflowCursor
  /**
   * Receives the run's status as it changes. Create it with
   * `SubscriptionRef.make(pendingStatus)` and read `SubscriptionRef.changes` to drive a
   * progress display.
   */
  readonly status?: SubscriptionRef.SubscriptionRef<WorkflowStatus>
}

/** What a finished run leaves: the step counter and the state, by key name. */
export interface WorkflowResult {
  readonly step: number
  readonly state: Readonly<Record<string, unknown>>
}

/**
 * The part of a cursor still to be followed below the current node: `undefined` once the
 * run has reached the cursor and proceeds normally.
 */
type Resume = { readonly rest: ReadonlyArray<number>; readonly after: boolean } | undefined

const tail = (resume: Resume): Resume => resume && { rest: resume.rest.slice(1), after: resume.after }

const loopTimes = <E, R>(node: LoopNode<E, R>, run: RunState): Effect.Effect<number> => {
  const { times } = node
  if (typeof times === "number") return Effect.succeed(times)
  const key = times.key.name
  if (!run.values.has(key)) return Effect.die(new MissingStateValueError({ node: node.name, key }))
  const value = run.values.get(key)
  return typeof value === "number" && Number.isInteger(value) && value >= 0
    ? Effect.succeed(value)
    : Effect.die(new InvalidLoopTimesError({ loop: node.name, key, value: String(value) }))
}

/** Interprets one node. Plain generic functions, since `Effect.fn` drops type parameters. */
const runNode = <E, R>(
  node: WorkflowNode<E, R>,
  frame: Frame,
  run: RunState,
  resume: Resume
): Effect.Effect<void, E | StageTimeoutError, R | MetricsSink> =>
  // Suspended so that the step, the state and `when` tests are read when the node is
  // reached, not when the tree is interpreted.
  Effect.suspend(() => {
    if (resume !== undefined && resume.rest.length === 0) {
      // The cursor names this very node: skip it, or run it from its start.
      return resume.after ? Effect.void : runNode(node, frame, run, undefined)
    }
    switch (node._tag) {
      case "Stage":
        return runStageNode(node, frame, run)
      case "Sequence":
        return Effect.gen(function*() {
          const first = resume?.rest[0] ?? 0
          for (const [index, next] of node.children.entries()) {
            if (index < first) {
              yield* rerunSkipped(next, childFrame(frame, index), run)
              continue
            }
            yield* runNode(next, childFrame(frame, index), run, index === first ? tail(resume) : undefined)
          }
        })
      case "Loop":
        return Effect.gen(function*() {
          const times = yield* loopTimes(node, run)
          const first = resume?.rest[0] ?? 0
          for (let index = first; index < times; index++) {
            const inner: Frame = {
              path: [...frame.path, index],
              loops: [...frame.loops, { name: node.name, index, times }]
            }
            yield* runNode(node.body, inner, run, index === first ? tail(resume) : undefined)
          }
        })
      case "When": {
        // A cursor inside the body means the run was already past the test.
        const enter = resume !== undefined || node.test({ step: run.step, loops: loopIndices(frame), loopTimes: loopCounts(frame) })
        return enter ? runNode(node.body, childFrame(frame, WHEN_BODY), run, tail(resume)) : Effect.void
      }
      case "Finally": {
        const inFinalizer = resume?.rest[0] === FINALLY_FINALIZER
        const finalizer = runNode(
          node.finalizer,
          childFrame(frame, FINALLY_FINALIZER),
          run,
          inFinalizer ? tail(resume) : undefined
        )
        if (inFinalizer) return finalizer
        // onExit runs the finalizer uninterruptibly, so a cancelled run still gets its
        // final checkpoint; a failing finalizer's cause joins the body's.
        return runNode(node.body, childFrame(frame, FINALLY_BODY), run, tail(resume)).pipe(
          Effect.onExit(() => finalizer)
        )
      }
    }
  })

/**
 * What a cursor skips but the run still needs: the stages marked `rerunOnResume` in a
 * skipped subtree, in tree order. Loops and `when`s are not entered (the stages that
 * rebuild state run once, before training), and neither are finalizers.
 */
const rerunSkipped = <E, R>(
  node: WorkflowNode<E, R>,
  frame: Frame,
  run: RunState
): Effect.Effect<void, E | StageTimeoutError, R | MetricsSink> => {
  switch (node._tag) {
    case "Stage":
      return node.stage.rerunOnResume === true ? runStageNode(node, frame, run) : Effect.void
    case "Sequence":
      return Effect.forEach(node.children, (child, index) => rerunSkipped(child, childFrame(frame, index), run), {
        discard: true
      })
    case "Finally":
      return rerunSkipped(node.body, childFrame(frame, FINALLY_BODY), run)
    case "Loop":
    case "When":
      return Effect.void
  }
}

const missingInitialValues = (workflow: Workflow, values: ReadonlyMap<string, unknown>): ReadonlyArray<WorkflowProblem> =>
  workflow.initial
    .filter((key) => !values.has(key.name))
    .map((key) => ({
      kind: "missing-initial-value",
      node: workflow.name,
      key: key.name,
      path: [],
      message: `workflow "${workflow.name}" lists "${key.name}" as initial state but the run was given no value for it`
    }))

const finalPhase = (exit: Exit.Exit<unknown, unknown>): WorkflowStatus["phase"] =>
  Exit.isSuccess(exit) ? "succeeded" : Cause.hasInterruptsOnly(exit.cause) ? "interrupted" : "failed"

/**
 * Runs a workflow. It first validates the tree, the initial state and the cursor, and
 * fails with `WorkflowInvalidError` listing every problem before any stage runs. Then it
 * interprets the tree: each stage run is a `sous.stage.<name>` span with `stage.start` and
 * `stage.end` events sent to the `MetricsSink`; the step counter counts successful runs of
 * stages with `advancesStep`.
 */
export const runWorkflow = <E, R>(
  workflow: Workflow<E, R>,
  options: RunWorkflowOptions = {}
): Effect.Effect<WorkflowResult, E | StageTimeoutError | WorkflowInvalidError, R | MetricsSink> =>
  Effect.gen(function*() {
    const { cursor } = options
    const values = new Map(Object.entries({ ...options.initialState, ...cursor?.state }))
    const problems = [
      ...validateWorkflow(workflow),
      ...missingInitialValues(workflow, values),
      ...(cursor === undefined ? [] : cursorProblems(workflow.name, workflow.root, cursor))
    ]
    if (problems.length > 0) return yield* new WorkflowInvalidError({ workflow: workflow.name, problems })

    const run: RunState = { values, step: cursor?.step ?? 0, status: options.status }
    const resume: Resume = cursor && { rest: cursor.position, after: cursor.resume === "after" }
    yield* runNode(workflow.root, { path: [], loops: [] }, run, resume).pipe(
      Effect.onExit((exit) => publishPhase(run, finalPhase(exit)))
    )
    return { step: run.step, state: Object.fromEntries(values) }
  }).pipe(Effect.withSpan("sous.workflow", { attributes: { workflow: workflow.name } }))
