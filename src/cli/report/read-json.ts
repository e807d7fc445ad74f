/**
 * Reading the JSON and JSONL files of a run directory for `sous report`, strictly: a file
 * that is not there (when it must be) or does not parse fails with its path, and a bad JSONL
 * line with its line number, rather than leaving a hole in the report.
 */
import { readFile } from "node:fs/promises"
import { Effect } from "effect"
import { messageOf } from "../../ports/thrown-message.js"
import { type ReportError, reportError } from "./report-error.js"

/** A JSON object as read from a file: nothing about its fields is known yet. */
export type JsonObject = Readonly<Record<string, unknown>>

/** Whether `value` is a JSON object (not an array, not null). */
export const isJsonObject = (value: unknown): value is JsonObject =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const isMissing = (error: unknown) => (error as NodeJS.ErrnoException | undefined)?.code === "ENOENT"

/**
 * The text of `path`, or undefined when there is no such file. `what` says what the file
 * is, for the error when it is missing and `required`.
 */
const readText = (path: string, what: string, required: boolean): Effect.Effect<string | undefined, ReportError> =>
  Effect.tryPromise({
    try: () => readFile(path, "utf8").catch((error: unknown) => (isMissing(error) && !required ? undefined : Promise.reject(error))),
    catch: (error) => reportError(path, isMissing(error) ? `missing ${what}` : `cannot read ${what}: ${messageOf(error)}`, { cause: error })
  })

const parse = (text: string, path: string, what: string, line?: number): Effect.Effect<JsonObject, ReportError> =>
  Effect.suspend(() => {
    const at = line === undefined ? {} : { line }
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch (error) {
      return Effect.fail(reportError(path, `${what} is not valid JSON: ${messageOf(error)}`, { ...at, cause: error }))
    }
    return isJsonObject(value) ? Effect.succeed(value) : Effect.fail(reportError(path, `${what} is not a JSON object`, at))
  })

/** The JSON object in `path`; fails naming the path when it is missing or malformed. */
export const readJsonObject = (path: string, what: string): Effect.Effect<JsonObject, ReportError> =>
  Effect.flatMap(readText(path, what, true), (text) => parse(text ?? "", path, what))

/** The JSON object in `path`, or undefined when there is no such file; malformed fails. */
export const readOptionalJsonObject = (path: string, what: string): Effect.Effect<JsonObject | undefined, ReportError> =>
  Effect.flatMap(readText(path, what, false), (text) => (text === undefined ? Effect.succeed(undefined) : parse(text, path, what)))

/**
 * The objects of the JSONL file `path`, one per non-blank line, in order; fails naming the
 * path when the file is missing, and the line when one is not a JSON object. A last line
 * without its newline that does not parse was cut short by a crash, as a run's own resume
 * treats it: it is left out.
 */
export const readJsonLines = (path: string, what: string): Effect.Effect<ReadonlyArray<JsonObject>, ReportError> =>
  Effect.flatMap(readText(path, what, true), (text) => {
    const lines = (text ?? "").split("\n")
    const last = lines.length - 1
    return Effect.map(
      Effect.forEach(lines, (line, index) =>
        line.trim() === ""
          ? Effect.succeed(undefined)
          : parse(line, path, "the line", index + 1).pipe(
            Effect.catch((error) => (index === last ? Effect.succeed(undefined) : Effect.fail(error)))
          )),
      (objects) => objects.filter((object) => object !== undefined)
    )
  })
