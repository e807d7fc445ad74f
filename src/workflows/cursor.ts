import type { WorkflowNode } from "./ir.js"
import type { WorkflowProblem } from "./problem.js"

/**
 * Where a run starts, plus what it starts with: the resume cursor.
 *
 * `position` is an index path from the root, one index per node passed on the way down:
 *
 * - sequence: the index of the child;
 * - loop: the iteration (from 0);
 * - when: always 0 (its body);
 * - finally: 0 for the body, 1 for the finalizer;
 * - stage: a leaf, so the path ends there.
 *
 * A path may stop above a stage; it then names the whole subtree below that node.
 * `StageContext.position` uses the same format, so a checkpoint stage can store its own
 * position and a later run can resume with `{ position, resume: "after" }`.
 *
 * Starting from a cursor skips every node before `position`; a loop on the path starts at
 * the cursor's iteration and then continues normally, and a `when` on the path is entered
 * without re-testing its condition (the run was already inside it).
 */
export interface WorkflowCursor {
  readonly position: ReadonlyArray<number>
  /**
   * `"at"` (the default) runs the node at `position` first; `"after"` skips it and starts
   * with whatever follows, which is what a run resumed from a checkpoint stage wants.
   */
  readonly resume?: "at" | "after"
  /** The step counter to start from. */
  readonly step: number
  /** The restored run state, by key name; overrides the run's initial state. */
  readonly state: Readonly<Record<string, unknown>>
}

/** Index of a `when` node's body in a position. */
export const WHEN_BODY = 0
/** Index of a `finally_` node's body in a position. */
export const FINALLY_BODY = 0
/** Index of a `finally_` node's finalizer in a position. */
export const FINALLY_FINALIZER = 1

const isIndex = (value: number): boolean => Number.isInteger(value) && value >= 0

/** Why `position` does not point into the tree under `root`, or undefined when it does. */
const positionError = (root: WorkflowNode, position: ReadonlyArray<number>): string | undefined => {
  let node = root
  for (const [depth, index] of position.entries()) {
    const where = `index ${index} at depth ${depth}`
    switch (node._tag) {
      case "Stage":
        return `${where} goes below stage "${node.stage.name}"`
      case "Sequence": {
        const child = node.children[index]
        if (!isIndex(index) || child === undefined) {
          return `${where} is not a child of a sequence of ${node.children.length}`
        }
        node = child
        break
      }
      case "Loop":
        if (!isIndex(index) || (typeof node.times === "number" && index >= node.times)) {
          return `${where} is not an iteration of loop "${node.name}"`
        }
        node = node.body
        break
      case "When":
        if (index !== WHEN_BODY) return `${where} is not the body of when "${node.label}"`
        node = node.body
        break
      case "Finally":
        if (index !== FINALLY_BODY && index !== FINALLY_FINALIZER) {
          return `${where} is neither the body nor the finalizer of a finally`
        }
        node = index === FINALLY_BODY ? node.body : node.finalizer
        break
    }
  }
  return undefined
}

/** The problems with starting `workflowName` at `cursor` (none, or one `invalid-cursor`). */
export const cursorProblems = (
  workflowName: string,
  root: WorkflowNode,
  cursor: WorkflowCursor
): ReadonlyArray<WorkflowProblem> => {
  const reason = positionError(root, cursor.position)
  if (reason === undefined) return []
  return [{
    kind: "invalid-cursor",
    node: workflowName,
    path: cursor.position,
    message: `cursor [${cursor.position.join(", ")}] does not point into workflow "${workflowName}": ${reason}`
  }]
}
