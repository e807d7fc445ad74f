import { access } from "node:fs/promises"
import { isAbsolute, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Schema } from "effect"
import { uriScheme } from "../ports/index.js"
import type { RecipeProblem } from "./recipe-error.js"
import { ModelSection } from "./recipe-sections.js"

// A recipe's model section with `hf` gives the model by its directory (see `ModelSection`):
// these are the checks and defaults that need the recipe as written, before its defaults
// fill in the fields that `model.hf` replaces.

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** The fields of sous's own transformer, which a Hugging Face model's config.json gives instead. */
const shapeFields = ["layers", "width", "heads"] as const
const shapeDefaults = Schema.decodeUnknownSync(ModelSection)({})

/** `model.hf` of a parsed recipe, when it is a string. */
const hfOf = (input: unknown): string | undefined => {
  const model = isRecord(input) ? input["model"] : undefined
  const hf = isRecord(model) ? model["hf"] : undefined
  return typeof hf === "string" ? hf : undefined
}

/**
 * What is wrong with `model.hf` in a recipe as written: a source that is neither a local
 * directory nor `hf://` (which the kitchen downloads), or a shape field beside it, which the
 * model's config.json gives.
 */
export const hfModelInputProblems = (input: unknown): Array<RecipeProblem> => {
  const hf = hfOf(input)
  if (hf === undefined) return []
  const model = (input as Record<string, unknown>)["model"] as Record<string, unknown>
  const problems: Array<RecipeProblem> = []
  const scheme = uriScheme(hf)
  if (scheme !== undefined && scheme !== "file" && scheme !== "hf") {
    problems.push({
      path: "model.hf",
      message: `sous reads Hugging Face models from a local directory or hf://org/name[@revision]; ${JSON.stringify(hf)} is neither`
    })
  }
  for (const field of shapeFields) {
    // A run's recipe.json holds every field, these at their defaults (ignored beside model.hf),
    // and must load again to resume; only another value was written by hand.
    if (field in model && model[field] !== shapeDefaults[field]) {
      problems.push({ path: `model.${field}`, message: `the model's config.json gives its shape; remove model.${field} when model.hf is set` })
    }
  }
  return problems
}

const exists = (path: string): Effect.Effect<boolean> =>
  Effect.promise(() => access(path).then(() => true, () => false))

/**
 * A parsed recipe with the defaults its Hugging Face model directory gives: without a
 * `tokenizer` section, the model's `tokenizer.json` (when the directory has one); with
 * `renderer.format: jinja` and no `chatTemplate`, the chat template of its
 * `tokenizer_config.json`. Other recipes are returned as they are.
 */
export const withHfModelDefaults = (input: unknown, baseDir: string): Effect.Effect<unknown> =>
  Effect.gen(function*() {
    const hf = hfOf(input)
    if (hf === undefined || (uriScheme(hf) !== undefined && uriScheme(hf) !== "file")) return input
    const dir = hf.startsWith("file://") ? fileURLToPath(hf) : isAbsolute(hf) ? hf : resolve(baseDir, hf)
    const recipe = { ...(input as Record<string, unknown>) }
    const tokenizerJson = join(dir, "tokenizer.json")
    if (recipe["tokenizer"] === undefined && (yield* exists(tokenizerJson))) {
      recipe["tokenizer"] = { kind: "huggingface", path: tokenizerJson }
    }
    const renderer = recipe["renderer"]
    const tokenizerConfig = join(dir, "tokenizer_config.json")
    if (isRecord(renderer) && renderer["format"] === "jinja" && renderer["chatTemplate"] === undefined && (yield* exists(tokenizerConfig))) {
      recipe["renderer"] = { ...renderer, chatTemplate: tokenizerConfig }
    }
    return recipe
  })
