/** Where the recipes of several runs differ, field by field, for the report's recipe section. */
import { isJsonObject, type JsonObject } from "./read-json.js"

/** A recipe field whose value is not the same in every run. */
export interface RecipeDifference {
  /** The field's path: `optimizer.lr`, `stages[1].set[0]`. */
  readonly path: string
  /** Its value in each run, as JSON text, in run order; undefined where a run's recipe lacks it. */
  readonly values: ReadonlyArray<string | undefined>
}

/** Every leaf of a JSON value by its path; an empty object or array is a leaf. */
const leaves = (value: unknown, path: string, into: Map<string, string>): Map<string, string> => {
  const entries = Array.isArray(value)
    ? value.map((item, index) => [`${path}[${index}]`, item] as const)
    : isJsonObject(value)
    ? Object.entries(value).map(([key, item]) => [path === "" ? key : `${path}.${key}`, item] as const)
    : undefined
  if (entries === undefined || entries.length === 0) into.set(path, JSON.stringify(value))
  else for (const [itemPath, item] of entries) leaves(item, itemPath, into)
  return into
}

/**
 * The fields whose values differ between `recipes` (or that some lack), in the order they
 * first appear; none for fewer than two recipes.
 */
export const recipeDifferences = (recipes: ReadonlyArray<JsonObject>): ReadonlyArray<RecipeDifference> => {
  if (recipes.length < 2) return []
  const flat = recipes.map((recipe) => leaves(recipe, "", new Map()))
  const paths = [...new Set(flat.flatMap((fields) => [...fields.keys()]))]
  return paths.flatMap((path) => {
    const values = flat.map((fields) => fields.get(path))
    return values.every((value) => value === values[0]) ? [] : [{ path, values }]
  })
}
