import { readFile } from "node:fs/promises"
import { dirname, extname, isAbsolute, resolve } from "node:path"
import { Effect } from "effect"
import { parse as parseYaml, YAMLParseError } from "yaml"
import { uriScheme } from "../ports/index.js"
import { decodeRecipe } from "./decode-recipe.js"
import { RecipeError } from "./recipe-error.js"
import { readChatTemplate } from "./read-chat-template.js"
import type { Recipe } from "./recipe.js"

const problem = (source: string, path: string, message: string) => new RecipeError({ source, problems: [{ path, message }] })

const parseText = (text: string, source: string): Effect.Effect<unknown, RecipeError> =>
  Effect.try({
    try: () => (extname(source).toLowerCase() === ".json" ? JSON.parse(text) : parseYaml(text)),
    catch: (cause) =>
      problem(source, "", cause instanceof YAMLParseError || cause instanceof SyntaxError ? `cannot parse: ${cause.message}` : String(cause))
  })

/**
 * Applies `a.b=c` overrides to a parsed recipe. The value is read as YAML, so `3e-3` is a
 * number and `true` a boolean; intermediate objects are created as needed.
 */
export const applyOverrides = (
  input: unknown,
  overrides: ReadonlyArray<string>,
  source: string
): Effect.Effect<unknown, RecipeError> =>
  Effect.gen(function*() {
    const root: Record<string, unknown> = typeof input === "object" && input !== null ? structuredClone(input as object) as Record<string, unknown> : {}
    for (const override of overrides) {
      const equals = override.indexOf("=")
      const path = equals > 0 ? override.slice(0, equals).split(".") : []
      if (path.length === 0 || path.some((key) => key === "")) {
        return yield* problem(source, "", `--set expects path=value (e.g. optimizer.lr=3e-4), got '${override}'`)
      }
      // These names reach object prototypes, not recipe fields.
      if (path.some((key) => key === "__proto__" || key === "constructor" || key === "prototype")) {
        return yield* problem(source, path.join("."), `--set cannot write '${path.join(".")}'`)
      }
      const value = yield* Effect.try({
        try: (): unknown => parseYaml(override.slice(equals + 1)),
        catch: (cause) => problem(source, path.join("."), `--set value cannot be parsed: ${(cause as Error).message}`)
      })
      let node = root
      for (const key of path.slice(0, -1)) {
        const next = node[key]
        if (typeof next !== "object" || next === null) node[key] = {}
        node = node[key] as Record<string, unknown>
      }
      node[path.at(-1)!] = value
    }
    return root
  })

// A URI with a scheme (s3://, hf://, file://) is left as it is; a plain path is resolved.
const resolveFrom = (baseDir: string, location: string) =>
  uriScheme(location) !== undefined || isAbsolute(location) ? location : resolve(baseDir, location)

const resolveRef = <A extends { readonly store: string }>(baseDir: string, ref: A): A => ({ ...ref, store: resolveFrom(baseDir, ref.store) })

/** The locations only some kinds have: tokenizer, starting checkpoint, teacher, environment module. */
const resolveKindPaths = (recipe: Recipe, baseDir: string): Partial<Recipe> => {
  if (recipe.kind === "classify") return {}
  const { path } = recipe.tokenizer
  const { from } = recipe.model
  return {
    tokenizer: { ...recipe.tokenizer, ...(path === undefined ? {} : { path: resolveFrom(baseDir, path) }) },
    model: { ...recipe.model, ...(from === undefined ? {} : { from: resolveRef(baseDir, from) }) },
    ...(recipe.kind === "distill" ? { teacher: resolveRef(baseDir, recipe.teacher) } : {}),
    ...(recipe.kind === "rl" && "module" in recipe.env ? { env: { ...recipe.env, module: resolveFrom(baseDir, recipe.env.module) } } : {})
  } as Partial<Recipe>
}

/** Makes the recipe's file locations absolute, relative to the directory of the recipe file. */
export const resolvePaths = (recipe: Recipe, baseDir: string): Recipe => ({
  ...recipe,
  data: {
    ...recipe.data,
    train: resolveFrom(baseDir, recipe.data.train),
    ...(recipe.data.eval === undefined ? {} : { eval: resolveFrom(baseDir, recipe.data.eval) })
  },
  checkpoint: {
    ...recipe.checkpoint,
    ...(recipe.checkpoint.uri === undefined ? {} : { uri: resolveFrom(baseDir, recipe.checkpoint.uri) })
  },
  ...resolveKindPaths(recipe, baseDir)
} as Recipe)

/**
 * Reads a JSON or YAML recipe file, applies overrides, reads the chat template it points at,
 * decodes it and resolves its paths.
 */
export const loadRecipe = (file: string, overrides: ReadonlyArray<string> = []): Effect.Effect<Recipe, RecipeError> =>
  Effect.gen(function*() {
    const text = yield* Effect.tryPromise({
      try: () => readFile(file, "utf8"),
      catch: (cause) => problem(file, "", `cannot read the recipe file: ${(cause as Error).message}`)
    })
    const parsed = yield* parseText(text, file)
    const input = yield* applyOverrides(parsed, overrides, file)
    const baseDir = dirname(resolve(file))
    const recipe = yield* decodeRecipe(yield* readChatTemplate(input, baseDir, file), file)
    return resolvePaths(recipe, baseDir)
  })
