import { readFile, stat } from "node:fs/promises"
import { dirname, isAbsolute, resolve } from "node:path"
import { Effect } from "effect"
import { parse as parseYaml } from "yaml"
import { messageOf } from "../ports/thrown-message.js"
import { uriScheme } from "../ports/index.js"
import { closestName } from "../ports/closest-name.js"
import { decodeRecipe } from "./decode-recipe.js"
import { maxRecipeBytes, parseRecipeText } from "./parse-recipe-text.js"
import { type AnyRecipe, decodePipeline } from "./pipeline-recipe.js"
import { RecipeError } from "./recipe-error.js"
import { readChatTemplate } from "./read-chat-template.js"
import { withHfModelDefaults } from "./hf-model-recipe.js"
import type { Recipe } from "./recipe.js"
import type { TrackerSection } from "./recipe-sections.js"

const problem = (source: string, path: string, message: string, cause?: unknown) =>
  new RecipeError({ source, problems: [{ path, message }], cause })

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
        catch: (cause) => problem(source, path.join("."), `--set value cannot be parsed: ${messageOf(cause)}`, cause)
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
  const { from, hf } = recipe.model
  return {
    tokenizer: { ...recipe.tokenizer, ...(path === undefined ? {} : { path: resolveFrom(baseDir, path) }) },
    model: {
      ...recipe.model,
      ...(from === undefined ? {} : { from: resolveRef(baseDir, from) }),
      ...(hf === undefined ? {} : { hf: resolveFrom(baseDir, hf) })
    },
    ...(recipe.kind === "distill" ? { teacher: resolveRef(baseDir, recipe.teacher) } : {}),
    ...(recipe.kind === "rl" && "module" in recipe.env ? { env: { ...recipe.env, module: resolveFrom(baseDir, recipe.env.module) } } : {})
  } as Partial<Recipe>
}

/** A TensorBoard tracker's `dir`, relative to the recipe file; other trackers are URLs. */
const resolveTrackerDir = (tracker: TrackerSection, baseDir: string): TrackerSection =>
  tracker.kind === "tensorboard" && tracker.dir !== undefined ? { ...tracker, dir: resolveFrom(baseDir, tracker.dir) } : tracker

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
  ...(recipe.trackers === undefined ? {} : { trackers: recipe.trackers.map((tracker) => resolveTrackerDir(tracker, baseDir)) }),
  ...resolveKindPaths(recipe, baseDir)
} as Recipe)

const readRecipeFile = (file: string, overrides: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const cannotRead = (cause: unknown) => problem(file, "", `cannot read the recipe file: ${messageOf(cause)}`, cause)
    // Refused before it is read: a file this large is not a recipe, and would stall the parser.
    const { size } = yield* Effect.tryPromise({ try: () => stat(file), catch: cannotRead })
    if (size > maxRecipeBytes) return yield* problem(file, "", `the recipe file holds ${size} bytes, more than the ${maxRecipeBytes} a recipe may hold`)
    const text = yield* Effect.tryPromise({ try: () => readFile(file, "utf8"), catch: cannotRead })
    return yield* applyOverrides(yield* parseRecipeText(text, file), overrides, file)
  })

/**
 * Decodes a parsed training recipe: fills in what its Hugging Face model directory gives,
 * reads its chat template, checks it, resolves its paths.
 */
const decodeTrainingRecipe = (input: unknown, baseDir: string, source: string) =>
  Effect.gen(function*() {
    const withDefaults = yield* withHfModelDefaults(input, baseDir)
    const recipe = yield* decodeRecipe(yield* readChatTemplate(withDefaults, baseDir, source), source)
    return resolvePaths(recipe, baseDir)
  })

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value)

const stageKeys = ["name", "recipe", "set"]

/**
 * Loads one stage of a pipeline file: `recipe` is the path of a recipe file (relative to the
 * pipeline file, `set` overrides applied to it) or a recipe written inline. Problems are
 * reported at the stage's path in the pipeline file.
 */
const loadStage = (entry: unknown, index: number, baseDir: string, source: string) =>
  Effect.gen(function*() {
    const path = `stages[${index}]`
    if (!isRecord(entry)) return yield* problem(source, path, "expected { name, recipe, set? }")
    const unknownKey = Object.keys(entry).find((key) => !stageKeys.includes(key))
    if (unknownKey !== undefined) {
      const meant = closestName(unknownKey, stageKeys)
      const hint = meant === undefined ? "" : `; did you mean "${meant}"?`
      return yield* problem(source, `${path}.${unknownKey}`, `unknown key (a stage has name, recipe and set)${hint}`)
    }
    const set = entry["set"] ?? []
    if (!Array.isArray(set) || !set.every((item) => typeof item === "string")) {
      return yield* problem(source, `${path}.set`, "expected a list of path=value overrides")
    }
    const { recipe } = entry
    const loaded = typeof recipe === "string"
      ? loadRecipe(resolveFrom(baseDir, recipe), set)
      : isRecord(recipe) && set.length === 0
      ? decodeTrainingRecipe(recipe, baseDir, `${source} ${path}.recipe`)
      : Effect.fail(problem(source, `${path}.recipe`, isRecord(recipe) ? "set applies to a recipe file; write an inline recipe as it should be" : "expected the path of a recipe file or an inline recipe"))
    return { name: entry["name"], recipe: yield* loaded }
  })

/** Loads a pipeline: each stage's recipe, then the pipeline as a whole. */
const loadPipeline = (input: Record<string, unknown>, baseDir: string, source: string) =>
  Effect.gen(function*() {
    const stages = input["stages"]
    if (!Array.isArray(stages) || stages.length === 0) return yield* problem(source, "stages", "a pipeline needs a list of stages, one at least")
    const loaded = yield* Effect.forEach(stages, (entry, index) => loadStage(entry, index, baseDir, source))
    return yield* decodePipeline({ ...input, stages: loaded }, source)
  })

/**
 * Reads a JSON or YAML recipe file, applies overrides, and loads it: a training recipe (its
 * chat template read, decoded, paths resolved) or a pipeline of them.
 */
export const loadAnyRecipe = (file: string, overrides: ReadonlyArray<string> = []): Effect.Effect<AnyRecipe, RecipeError> =>
  Effect.gen(function*() {
    const input = yield* readRecipeFile(file, overrides)
    const baseDir = dirname(resolve(file))
    return isRecord(input) && input["kind"] === "pipeline"
      ? yield* loadPipeline(input, baseDir, file)
      : yield* decodeTrainingRecipe(input, baseDir, file)
  })

/**
 * Reads a JSON or YAML recipe file of one training recipe, applies overrides, reads the chat
 * template it points at, decodes it and resolves its paths.
 */
export const loadRecipe = (file: string, overrides: ReadonlyArray<string> = []): Effect.Effect<Recipe, RecipeError> =>
  Effect.gen(function*() {
    return yield* decodeTrainingRecipe(yield* readRecipeFile(file, overrides), dirname(resolve(file)), file)
  })
