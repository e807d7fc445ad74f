import { Cause } from "effect"
import { describeError, describeFailure } from "../ports/describe-error.js"
import type { CliError } from "./cli-error.js"

/**
 * The message for a failed command: the first failure of the cause in one line (no stack),
 * or, when verbose, the whole cause with every error's stack and the chain of errors that
 * caused it (each `cause`, printed as `[cause]`).
 */
export const describeCause = (cause: Cause.Cause<CliError>, verbose: boolean): string => {
  if (verbose) return Cause.pretty(cause)
  const failure = cause.reasons.find(Cause.isFailReason)
  if (failure !== undefined) return describeError(failure.error)
  const defect = cause.reasons.find(Cause.isDieReason)
  if (defect !== undefined) return `internal error: ${describeFailure(defect.defect)} (run with --verbose for details)`
  return "the run was interrupted"
}
