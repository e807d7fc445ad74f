import { Cause, Predicate } from "effect"
import { messageOf } from "../ports/thrown-message.js"
import type { CliError } from "./cli-error.js"

/**
 * One clear line (or block, for recipes and workflows) for an error a user can act on: it
 * names the file and line, the blob key, the stage or the operation. Secrets never reach
 * these messages, since errors carry only names and locations.
 */
export const describeError = (error: CliError): string => {
  switch (error._tag) {
    case "DatasetRowError":
      return `${error.uri}:${error.line}: ${error.message}`
    case "DatasetError":
      return `${error.uri}: ${error.message}`
    case "BlobStoreError":
      return error.key === "" ? `${error.operation}: ${error.message}` : `${error.operation} ${error.key}: ${error.message}`
    case "BlobNotFoundError":
      return `blob not found: ${error.key}`
    case "UnsafeKeyError":
      return `unsafe blob key ${JSON.stringify(error.key)}: ${error.reason}`
    case "TrainingError":
    case "InvalidRequestError":
      return `${error.operation}: ${error.message}`
    case "ResumeRefusedError":
      return `resume: ${error.message}`
    case "BackendUnavailableError":
      return `backend ${error.backend}: ${error.message}`
    default:
      // The others say everything in their message; one without a message is named by its tag.
      return error.message || error._tag
  }
}

// A defect is whatever was thrown: a tagged error (a bug that raised one) reads as a failure
// would, anything else by its message.
const describeDefect = (defect: unknown): string =>
  Predicate.hasProperty(defect, "_tag") && typeof defect._tag === "string" ? describeError(defect as CliError) : messageOf(defect)

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
  if (defect !== undefined) return `internal error: ${describeDefect(defect.defect)} (run with --verbose for details)`
  return "the run was interrupted"
}
