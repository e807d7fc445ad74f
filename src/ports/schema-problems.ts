import { type Schema, SchemaAST, SchemaIssue } from "effect"
import { closestName } from "./closest-name.js"

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
 * The keys each object of the schema takes, by the dotted path of every key it refused:
 * what a "did you mean" picks from. The formatted issues keep no schema, so they are read
 * from the issue tree.
 */
const expectedKeys = (issue: SchemaIssue.Issue): ReadonlyMap<string, ReadonlyArray<string>> => {
  const keys = new Map<string, ReadonlyArray<string>>()
  const visit = (node: SchemaIssue.Issue, path: ReadonlyArray<PropertyKey>): void => {
    switch (node._tag) {
      case "Pointer":
        return visit(node.issue, [...path, ...node.path])
      case "UnexpectedKey":
        if (SchemaAST.isObjects(node.ast)) keys.set(dotted(path), node.ast.propertySignatures.map((signature) => String(signature.name)))
        return
      case "Composite":
      case "AnyOf":
        return node.issues.forEach((child) => visit(child, path))
      case "Filter":
      case "Encoding":
        return visit(node.issue, path)
      default:
        return
    }
  }
  visit(issue, [])
  return keys
}

/** A value as a problem shows it: JSON, but NaN and ±Infinity as themselves (JSON would say null). */
const shown = (value: unknown): string =>
  typeof value === "number" && !Number.isFinite(value)
    ? String(value)
    : JSON.stringify(value, (_key, inner: unknown) => (typeof inner === "number" && !Number.isFinite(inner) ? String(inner) : inner))

/**
 * Every problem of a failed decode, each with its path and the value found there, e.g.
 * `optimizer.lr: expected a positive number, got -1`. A key the schema does not take gets
 * the nearest key it does, `did you mean "optimizer"?`. Recipes, dataset rows and HTTP
 * bodies report bad input the same way.
 */
export const schemaProblems = (error: Schema.SchemaError, input: unknown): ReadonlyArray<SchemaProblem> => {
  const expected = expectedKeys(error.issue)
  return formatter(error.issue).issues.map((issue) => {
    const path = (issue.path ?? []).map((segment) => (typeof segment === "object" ? segment.key : segment))
    const message = `${issue.message.charAt(0).toLowerCase()}${issue.message.slice(1)}`
    if (issue.message.includes("excess")) {
      const meant = closestName(String(path.at(-1)), expected.get(dotted(path)) ?? [])
      return { path: dotted(path), message: meant === undefined ? message : `${message}; did you mean ${JSON.stringify(meant)}?` }
    }
    const found = valueAt(input, path)
    return { path: dotted(path), message: found.found ? `${message}, got ${shown(found.value)}` : message }
  })
}

/** Problems as `path: message` text joined by `separator`. */
export const formatSchemaProblems = (problems: ReadonlyArray<SchemaProblem>, separator = "; "): string =>
  problems.map((problem) => (problem.path === "" ? problem.message : `${problem.path}: ${problem.message}`)).join(separator)
