import { Cause } from "effect"

interface Tagged {
  readonly _tag: string
  readonly message?: string
  readonly [key: string]: unknown
}

const isTagged = (value: unknown): value is Tagged =>
  typeof value === "object" && value !== null && typeof (value as { _tag?: unknown })._tag === "string"

/**
 * One clear line (or block, for recipes) for an error a user can act on: it names the file
 * and line, the blob key, the stage or the operation. Secrets never reach these messages,
 * since errors carry only names and locations.
 */
export const describeError = (error: unknown): string => {
  if (!isTagged(error)) return error instanceof Error ? error.message : String(error)
  const message = error.message ?? ""
  switch (error._tag) {
    case "DatasetRowError":
      return `${error["uri"]}:${error["line"]}: ${message}`
    case "DatasetError":
      return `${error["uri"]}: ${message}`
    case "BlobStoreError":
      return error["key"] === "" ? `${error["operation"]}: ${message}` : `${error["operation"]} ${error["key"]}: ${message}`
    case "BlobNotFoundError":
      return `blob not found: ${error["key"]}`
    case "UnsafeKeyError":
      return `unsafe blob key ${JSON.stringify(error["key"])}: ${error["reason"]}`
    case "TrainingError":
    case "InvalidRequestError":
      return `${error["operation"]}: ${message}`
    case "BackendUnavailableError":
      return `backend ${error["backend"]}: ${message}`
    default:
      return message === "" ? error._tag : message
  }
}

/** The message for a failed run: the first failure of the cause, or the whole cause when verbose. */
export const describeCause = (cause: Cause.Cause<unknown>, verbose: boolean): string => {
  if (verbose) return Cause.pretty(cause)
  const failure = cause.reasons.find(Cause.isFailReason)
  if (failure !== undefined) return describeError(failure.error)
  const defect = cause.reasons.find(Cause.isDieReason)
  if (defect !== undefined) return `internal error: ${describeError(defect.defect)} (run with --verbose for details)`
  return "the run was interrupted"
}
