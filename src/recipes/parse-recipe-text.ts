/**
 * A recipe file's text as plain data, read the same way for JSON and YAML: a byte order mark
 * dropped, `__proto__` keys refused, and recipes too large to be hand-written refused with
 * their size, before the schema sees them.
 */
import { extname } from "node:path"
import { Effect } from "effect"
import { isNode, isScalar, parseDocument, visit, YAMLParseError } from "yaml"
import { RecipeError, type RecipeProblem } from "./recipe-error.js"

/** The most keys a recipe may hold, counted over every object in it. Hand-written recipes hold dozens. */
export const maxRecipeKeys = 10_000

/** The largest recipe file read, in bytes: ample for a recipe, far below what would stall parsing. */
export const maxRecipeBytes = 4 * 1024 * 1024

/** Why the text cannot be used, thrown while it is parsed and walked, caught by {@link parseRecipeText}. */
class RecipeParseFailure {
  constructor(readonly problem: RecipeProblem, readonly cause?: unknown) {}
}

const fail = (path: string, message: string, cause?: unknown): never => {
  throw new RecipeParseFailure({ path, message }, cause)
}

const tooManyKeys = () => fail("", `the recipe holds more than ${maxRecipeKeys} keys; a recipe names its settings, not data`)

/**
 * Parses YAML. The yaml package's own duplicate-key check compares every key of a map with
 * every other (40,000 keys took 12 s); duplicates are found here with a set per map instead.
 */
const parseYamlText = (text: string): unknown => {
  const document = parseDocument(text, { uniqueKeys: false })
  const [error] = document.errors
  if (error !== undefined) fail("", `cannot parse: ${error.message}`, error)
  let keys = 0
  visit(document, {
    Map: (_key, map) => {
      // Counted here too, so a huge file stops before it is converted (`checkKeys` has the rule).
      keys += map.items.length
      if (keys > maxRecipeKeys) tooManyKeys()
      const seen = new Set<unknown>()
      for (const pair of map.items) {
        const key = isScalar(pair.key) ? pair.key.value : String(pair.key)
        if (seen.has(key)) fail("", `cannot parse: the key ${JSON.stringify(key)} appears twice in one map (line ${lineOf(text, pair.key)})`)
        seen.add(key)
      }
    }
  })
  return document.toJS()
}

/** The 1-based line a YAML node starts on. */
const lineOf = (text: string, node: unknown): number => {
  const start = isNode(node) ? node.range?.[0] : undefined
  return start === undefined ? 0 : text.slice(0, start).split("\n").length
}

/**
 * Counts the keys of `value` and refuses a `__proto__` one (JSON.parse and yaml both keep it
 * as a plain key, but a copy made by assignment would set a prototype instead). Walked with a
 * stack, not by recursion, so nesting depth cannot overflow the call stack.
 */
const checkKeys = (value: unknown): void => {
  let keys = 0
  const pending: Array<{ readonly path: string; readonly value: unknown }> = [{ path: "", value }]
  while (pending.length > 0) {
    const { path, value: node } = pending.pop()!
    if (typeof node !== "object" || node === null) continue
    for (const [key, inner] of Object.entries(node)) {
      const at = Array.isArray(node) ? `${path}[${key}]` : path === "" ? key : `${path}.${key}`
      if (key === "__proto__") fail(at, "a recipe key cannot be \"__proto__\" (it names an object's prototype, not a field)")
      if (!Array.isArray(node) && ++keys > maxRecipeKeys) tooManyKeys()
      pending.push({ path: at, value: inner })
    }
  }
}

/**
 * Parses the text of the recipe file `source`, JSON for a `.json` file and YAML otherwise,
 * and checks its keys: what cannot be parsed, a `__proto__` key or more than
 * {@link maxRecipeKeys} keys is a {@link RecipeError}.
 */
export const parseRecipeText = (text: string, source: string): Effect.Effect<unknown, RecipeError> =>
  Effect.try({
    try: () => {
      // Editors on Windows may start a file with a byte order mark; YAML allows it, JSON.parse does not.
      const body = text.replace(/^\uFEFF/, "")
      const value = extname(source).toLowerCase() === ".json" ? JSON.parse(body) as unknown : parseYamlText(body)
      checkKeys(value)
      return value
    },
    catch: (error) => {
      if (error instanceof RecipeParseFailure) return new RecipeError({ source, problems: [error.problem], cause: error.cause })
      const parseError = error instanceof YAMLParseError || error instanceof SyntaxError
      return new RecipeError({ source, problems: [{ path: "", message: parseError ? `cannot parse: ${error.message}` : String(error) }], cause: error })
    }
  })
