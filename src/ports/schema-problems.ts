import { type Schema, SchemaIssue } from "effect"

/** One thing wrong with decoded input, at a dotted path (`optimizer.lr`, `messages[0].role`). */
export interface SchemaProblem {
  readonly path: string
  readonly message: string
}

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

const dotted = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>((text, key) => (typeof key === "number" ? `${text}[${key}]` : text === "" ? String(key) : `${text}.${String(key)}`), "")

const valueAt = (input: unknown, path: ReadonlyArray<PropertyKey>): { readonly found: boolean; readonly value?: unknown } => {
  let current: unknown = input
  for (const key of path) {
    if (typeof current !== "object" || current === null || !(key in current)) return { found: false }
    current = (current as Record<PropertyKey, unknown>)[key]
  }
  return { found: true, value: current }
}

/**
 * Every problem of a failed decode, each with its path and the value found there, e.g.
 * `optimizer.lr: expected a positive number, got -1`. Recipes, dataset rows and HTTP bodies
 * report bad input the same way.
 */
export const schemaProblems = (error: Schema.SchemaError, input: unknown): ReadonlyArray<SchemaProblem> =>
  formatter(error.issue).issues.map((issue) => {
    const path = (issue.path ?? []).map((segment) => (typeof segment === "object" ? segment.key : segment))
    const found = valueAt(input, path)
    const got = found.found && !issue.message.includes("excess") ? `, got ${JSON.stringify(found.value)}` : ""
    return { path: dotted(path), message: `${issue.message.charAt(0).toLowerCase()}${issue.message.slice(1)}${got}` }
  })

/** Problems as `path: message` text joined by `separator`. */
export const formatSchemaProblems = (problems: ReadonlyArray<SchemaProblem>, separator = "; "): string =>
  problems.map((problem) => (problem.path === "" ? problem.message : `${problem.path}: ${problem.message}`)).join(separator)
