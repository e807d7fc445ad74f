/**
 * Workflows: builders that produce a plain-data tree, the validator that checks it, the
 * runner that interprets it (with resume cursors and status), and the plan printer.
 */
export * from "./builders.js"
export * from "./cursor.js"
export * from "./errors.js"
export * from "./ir.js"
export * from "./print-plan.js"
export * from "./problem.js"
export type { StageOutcome } from "./run-stage.js"
export * from "./runner.js"
export * from "./status.js"
export * from "./validate.js"
export * from "./supervised.js"
export * from "./classify.js"
export * from "./distill.js"
export * from "./preference.js"
export * from "./rl.js"
export * from "./training-workflow.js"
