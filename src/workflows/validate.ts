import { FINALLY_BODY, FINALLY_FINALIZER, WHEN_BODY } from "./cursor.js"
import type { Workflow, WorkflowNode } from "./ir.js"
import type { WorkflowProblem } from "./problem.js"

/** Where the walk is: index path plus readable labels of the nodes passed. */
interface Place {
  readonly path: ReadonlyArray<number>
  readonly trail: ReadonlyArray<string>
}

/** What the walk collects across the whole tree. */
interface Findings {
  readonly problems: Array<WorkflowProblem>
  /** First place each loop name was seen, to report duplicates. */
  readonly loops: Map<string, Place>
}

const label = (node: WorkflowNode): string => {
  switch (node._tag) {
    case "Stage":
      return `stage "${node.stage.name}"`
    case "Sequence":
      return node.name === undefined ? "sequence" : `sequence "${node.name}"`
    case "Loop":
      return `loop "${node.name}"`
    case "When":
      return `when "${node.label}"`
    case "Finally":
      return "finally"
  }
}

const enter = (place: Place, node: WorkflowNode): Place => ({ path: place.path, trail: [...place.trail, label(node)] })

const child = (place: Place, index: number, note?: string): Place => ({
  path: [...place.path, index],
  trail: note === undefined ? place.trail : [...place.trail, note]
})

const describe = (place: Place): string => `at ${place.trail.join(" > ")}, path [${place.path.join(", ")}]`

const unwritten = (node: string, key: string, place: Place): WorkflowProblem => ({
  kind: "unwritten-key",
  node,
  key,
  path: place.path,
  message: `${place.trail.at(-1)} reads "${key}", which nothing before it writes (${describe(place)})`
})

/**
 * Walks `node` in execution order. `written` holds the keys definitely written before it;
 * the result holds those definitely written once it completes normally.
 */
const walk = (
  node: WorkflowNode,
  written: ReadonlySet<string>,
  outer: Place,
  findings: Findings
): ReadonlySet<string> => {
  const place = enter(outer, node)
  switch (node._tag) {
    case "Stage": {
      for (const key of node.stage.reads) {
        if (!written.has(key.name)) findings.problems.push(unwritten(node.stage.name, key.name, place))
      }
      return new Set([...written, ...node.stage.writes.map((key) => key.name)])
    }
    case "Sequence":
      return node.children.reduce((keys, next, index) => walk(next, keys, child(place, index), findings), written)
    case "Loop": {
      const first = findings.loops.get(node.name)
      if (first === undefined) {
        findings.loops.set(node.name, place)
      } else {
        findings.problems.push({
          kind: "duplicate-loop-name",
          node: node.name,
          path: place.path,
          message: `loop name "${node.name}" is used twice (${describe(place)}; first ${describe(first)})`
        })
      }
      if (typeof node.times === "number") {
        if (!Number.isInteger(node.times) || node.times < 0) {
          findings.problems.push({
            kind: "invalid-loop-times",
            node: node.name,
            path: place.path,
            message: `loop "${node.name}" runs ${node.times} times, which is not a non-negative integer (${describe(place)})`
          })
        }
      } else if (!written.has(node.times.key.name)) {
        findings.problems.push(unwritten(node.name, node.times.key.name, place))
      }
      // Later iterations see what earlier ones wrote, so the first iteration is the strictest
      // check. A loop whose count comes from the state is assumed to run at least once; the
      // runner reports a missing value as a defect if it does not.
      const after = walk(node.body, written, child(place, 0, "iteration 0"), findings)
      return node.times === 0 ? written : after
    }
    case "When":
      // The body may not run, so its writes count only inside it.
      walk(node.body, written, child(place, WHEN_BODY), findings)
      return written
    case "Finally": {
      const body = walk(node.body, written, child(place, FINALLY_BODY, "body"), findings)
      // The finalizer also runs when the body stopped early, so it may rely only on what
      // was written before the body.
      const finalizer = walk(node.finalizer, written, child(place, FINALLY_FINALIZER, "finalizer"), findings)
      return new Set([...body, ...finalizer])
    }
  }
}

/**
 * Checks a workflow before it runs: every key a stage (or a loop count) reads must be
 * definitely written earlier or listed in `initial`, loop names must be unique, and fixed
 * loop counts must be non-negative integers. Returns every problem found, in tree order;
 * an empty array means the workflow is valid.
 */
export const validateWorkflow = (workflow: Workflow): ReadonlyArray<WorkflowProblem> => {
  const findings: Findings = { problems: [], loops: new Map() }
  const initial = new Set(workflow.initial.map((key) => key.name))
  walk(workflow.root, initial, { path: [], trail: [`workflow "${workflow.name}"`] }, findings)
  return findings.problems
}
