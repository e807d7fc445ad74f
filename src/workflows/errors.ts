import { Schema } from "effect"
import { WorkflowProblem } from "./problem.js"

/** A stage attempt ran past its `timeout`; the attempt was interrupted. */
export class StageTimeoutError extends Schema.TaggedError<StageTimeoutError>()("StageTimeoutError", {
  stage: Schema.String,
  timeoutMs: Schema.Number
}) {
  override get message(): string {
    return `stage "${this.stage}" timed out after ${this.timeoutMs} ms`
  }
}

/** The runner refused a workflow before running any stage; `problems` lists every reason. */
export class WorkflowInvalidError extends Schema.TaggedError<WorkflowInvalidError>()("WorkflowInvalidError", {
  workflow: Schema.String,
  problems: Schema.Array(WorkflowProblem)
}) {
  override get message(): string {
    const lines = this.problems.map((problem) => `  - ${problem.message}`)
    return [`workflow "${this.workflow}" is invalid:`, ...lines].join("\n")
  }
}

/**
 * A stage called `get` on a key it does not read, or `set` on a key it does not write.
 * Raised as a defect: it is a bug in the stage, never a condition to handle.
 */
export class UndeclaredStateKeyError extends Schema.TaggedError<UndeclaredStateKeyError>()("UndeclaredStateKeyError", {
  stage: Schema.String,
  key: Schema.String,
  access: Schema.Literals(["read", "write"])
}) {
  override get message(): string {
    const declared = this.access === "read" ? "reads" : "writes"
    return `stage "${this.stage}" tried to ${this.access} state key "${this.key}" but does not list it in its ${declared}`
  }
}

/**
 * A declared key had no value when read. The validator rules this out for a fresh run, so
 * it means a restored state lacks a key or an `initial` value was not supplied. A defect.
 */
export class MissingStateValueError extends Schema.TaggedError<MissingStateValueError>()("MissingStateValueError", {
  node: Schema.String,
  key: Schema.String
}) {
  override get message(): string {
    return `"${this.node}" read state key "${this.key}" but the run state has no value for it`
  }
}

/** A loop read its count from the state and found something that is not a count. A defect. */
export class InvalidLoopTimesError extends Schema.TaggedError<InvalidLoopTimesError>()("InvalidLoopTimesError", {
  loop: Schema.String,
  key: Schema.String,
  value: Schema.String
}) {
  override get message(): string {
    return `loop "${this.loop}" read its count from "${this.key}" and got ${this.value}, not a non-negative integer`
  }
}
