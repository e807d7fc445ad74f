/**
 * One clear line for an error a user can act on: it names the file and line, the blob key,
 * the operation or the backend. Secrets never reach these lines, since errors carry only
 * names and locations. The CLI prints it; a durable run keeps it as its last error.
 */
import { Predicate } from "effect"
import type {
  BackendUnavailableError,
  BlobNotFoundError,
  BlobStoreError,
  DatasetError,
  DatasetRowError,
  InvalidRequestError,
  ResumeRefusedError,
  TrainingError,
  UnsafeKeyError
} from "./errors.js"
import { messageOf } from "./thrown-message.js"

/** The errors whose message alone leaves out where they happened. */
type LocatedError =
  | DatasetRowError
  | DatasetError
  | BlobStoreError
  | BlobNotFoundError
  | UnsafeKeyError
  | TrainingError
  | InvalidRequestError
  | ResumeRefusedError
  | BackendUnavailableError

const located: { readonly [Tag in LocatedError["_tag"]]: (error: Extract<LocatedError, { readonly _tag: Tag }>) => string } = {
  DatasetRowError: (error) => `${error.uri}:${error.line}: ${error.message}`,
  DatasetError: (error) => `${error.uri}: ${error.message}`,
  BlobStoreError: (error) => (error.key === "" ? `${error.operation}: ${error.message}` : `${error.operation} ${error.key}: ${error.message}`),
  BlobNotFoundError: (error) => `blob not found: ${error.key}`,
  UnsafeKeyError: (error) => `unsafe blob key ${JSON.stringify(error.key)}: ${error.reason}`,
  TrainingError: (error) => `${error.operation}: ${error.message}`,
  InvalidRequestError: (error) => `${error.operation}: ${error.message}`,
  ResumeRefusedError: (error) => `resume: ${error.message}`,
  BackendUnavailableError: (error) => `backend ${error.backend}: ${error.message}`
}

/**
 * The line for a tagged error: where it happened and what went wrong for the errors above;
 * any other says everything in its message, or is named by its tag when it has none.
 */
export const describeError = (error: { readonly _tag: string; readonly message?: string | undefined }): string => {
  const describe = (located as Readonly<Record<string, ((error: never) => string) | undefined>>)[error._tag]
  return describe !== undefined ? describe(error as never) : error.message || error._tag
}

/** {@link describeError} for a tagged error, the message of anything else that was thrown or failed. */
export const describeFailure = (failure: unknown): string =>
  Predicate.hasProperty(failure, "_tag") && typeof failure._tag === "string"
    ? describeError(failure as { readonly _tag: string; readonly message?: string })
    : messageOf(failure)
