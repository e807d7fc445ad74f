import { Schema } from "effect"

/**
 * A run directory `sous report` cannot read: a missing or malformed file, named by its path
 * (and line, for a JSONL file), or a report file it cannot write. The message says it all,
 * path first, so the CLI prints it as it is.
 */
export class ReportError extends Schema.TaggedError<ReportError>()("ReportError", {
  /** The file or directory at fault. */
  path: Schema.String,
  /** The 1-based line of a JSONL file, when one line is at fault. */
  line: Schema.optional(Schema.Number),
  message: Schema.String,
  /** The file system's or the JSON parser's error, for `--verbose`. */
  cause: Schema.optional(Schema.Defect())
}) {}

/** A {@link ReportError} whose message is `<path>[:<line>]: <problem>`. */
export const reportError = (path: string, problem: string, options: { readonly line?: number; readonly cause?: unknown } = {}): ReportError =>
  new ReportError({
    path,
    message: `${path}${options.line === undefined ? "" : `:${options.line}`}: ${problem}`,
    ...(options.line === undefined ? {} : { line: options.line }),
    ...(options.cause === undefined ? {} : { cause: options.cause })
  })
