import { Schema } from "effect"

/** What kind of mistake a workflow problem reports. */
export const WorkflowProblemKind = Schema.Literals([
  /** A stage or loop reads a key that nothing before it definitely writes. */
  "unwritten-key",
  /** Two loops share a name, so `StageContext.loops` could not tell them apart. */
  "duplicate-loop-name",
  /** A fixed loop count that is not a non-negative integer. */
  "invalid-loop-times",
  /** A key listed in `initial` has no value in the state the run starts with. */
  "missing-initial-value",
  /** A resume cursor that does not point into the tree. */
  "invalid-cursor"
])

/** One reason a workflow cannot run, with where in the tree it was found. */
export const WorkflowProblem = Schema.Struct({
  kind: WorkflowProblemKind,
  /** The stage or loop at fault (the workflow name for whole-run problems). */
  node: Schema.String,
  key: Schema.optional(Schema.String),
  /** Index path of the node, in the cursor's format. */
  path: Schema.Array(Schema.Int),
  /** A full sentence naming the node, the key and the path. */
  message: Schema.String
})

/** One reason a workflow cannot run. */
export type WorkflowProblem = typeof WorkflowProblem.Type
