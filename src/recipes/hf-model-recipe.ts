import { access } from "node:fs/promises"
import { isAbsolute, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Schema } from "effect"
import { uriScheme } from "../ports/index.js"
import { readChatTemplateFile } from "./read-chat-template.js"
import { RecipeError, type RecipeProblem } from "./recipe-error.js"
import type { ChatRecipe } from "./recipe.js"
import { ModelSection } from "./recipe-sections.js"

// A recipe's model section with `hf` gives the model by its directory (see `ModelSection`):
// these are the checks and defaults that need the recipe as written, before its defaults
// fill in the fields that `model.hf` replaces; and the same defaults for an `hf://` model,
// taken from the directory it was downloaded into.

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

/** Why a classify recipe takes no `model.hf`: its models are sous's own, fed feature rows, not text. */
export const classifyHfProblem: RecipeProblem = {
  path: "model.hf",
  message: "a classify recipe trains an mlp or cnn from scratch on feature rows; a Hugging Face model trains with a supervised, preference, rl or distill recipe"
}

/**
 * What is wrong with `model.hf` in a recipe as written: any at all in a classify recipe; a
 * source that is neither a local directory nor `hf://` (which the kitchen downloads), or a
 * shape field beside it, which the model's config.json gives.
 */
export const hfModelInputProblems = (input: unknown): Array<RecipeProblem> => {
  const hf = hfOf(input)
  if (hf === undefined) return []
  if (isRecord(input) && input["kind"] === "classify") return [classifyHfProblem]
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

/** Whether `hf` names a model on the Hub (`hf://org/name[@revision]`), which the kitchen downloads. */
export const isHubModel = (hf: string | undefined): boolean => hf !== undefined && uriScheme(hf) === "hf"

/** The files of a Hugging Face model directory that stand in for recipe sections left out. */
interface ModelDirectoryFiles {
  /** Its tokenizer.json: the tokenizer of a recipe without one. */
  readonly tokenizerJson?: string
  /** Its tokenizer_config.json: the chat template of a jinja recipe without one. */
  readonly tokenizerConfig?: string
}

// What a model directory gives, read the same way for a local directory and a downloaded one.
const modelDirectoryFiles = (dir: string): Effect.Effect<ModelDirectoryFiles> =>
  Effect.gen(function*() {
    const tokenizerJson = join(dir, "tokenizer.json")
    const tokenizerConfig = join(dir, "tokenizer_config.json")
    return {
      ...((yield* exists(tokenizerJson)) ? { tokenizerJson } : {}),
      ...((yield* exists(tokenizerConfig)) ? { tokenizerConfig } : {})
    }
  })

/**
 * A parsed recipe with the defaults its Hugging Face model directory gives: without a
 * `tokenizer` section, the model's `tokenizer.json` (when the directory has one); with
 * `renderer.format: jinja` and no `chatTemplate`, the chat template of its
 * `tokenizer_config.json`. Other recipes are returned as they are; an `hf://` model gets
 * the same defaults once downloaded (`withDownloadedHfModel`).
 */
export const withHfModelDefaults = (input: unknown, baseDir: string): Effect.Effect<unknown> =>
  Effect.gen(function*() {
    const hf = hfOf(input)
    if (hf === undefined || (uriScheme(hf) !== undefined && uriScheme(hf) !== "file")) return input
    const dir = hf.startsWith("file://") ? fileURLToPath(hf) : isAbsolute(hf) ? hf : resolve(baseDir, hf)
    const recipe = { ...(input as Record<string, unknown>) }
    const files = yield* modelDirectoryFiles(dir)
    if (recipe["tokenizer"] === undefined && files.tokenizerJson !== undefined) {
      recipe["tokenizer"] = { kind: "huggingface", path: files.tokenizerJson }
    }
    const renderer = recipe["renderer"]
    if (isRecord(renderer) && renderer["format"] === "jinja" && renderer["chatTemplate"] === undefined && files.tokenizerConfig !== undefined) {
      recipe["renderer"] = { ...renderer, chatTemplate: files.tokenizerConfig }
    }
    return recipe
  })

/** A recipe whose `model.hf` is an `hf://` model, in the two forms a run needs once it is downloaded. */
export interface HfModelRecipes {
  /**
   * The recipe with `model.hf` pinned to `hf://org/name@<commit>` (and the model's chat
   * template, if it renders with it): what is hashed, so a checkpoint records the commit and
   * the template, and resuming after the branch moved is refused.
   */
  readonly pinned: ChatRecipe
  /** The pinned recipe with `model.hf` the downloaded directory and its tokenizer.json: what runs. */
  readonly local: ChatRecipe
}

/**
 * A decoded recipe whose `hf://` model was downloaded into `dir` from the commit `pinned`
 * names (`hf://org/name@<commit>`), with what loading gives a recipe on a local directory
 * (`withHfModelDefaults`): with jinja and no `chatTemplate`, the chat template of the
 * model's tokenizer_config.json, named `<pinned>/tokenizer_config.json` so the hash does not
 * depend on where the cache is; unless `tokenizer.path` is set, its tokenizer.json. A jinja
 * recipe on a model without a tokenizer_config.json is a {@link RecipeError} at
 * `renderer.chatTemplate` of `source`.
 */
export const withDownloadedHfModel = (recipe: ChatRecipe, dir: string, pinned: string, source: string): Effect.Effect<HfModelRecipes, RecipeError> =>
  Effect.gen(function*() {
    const files = yield* modelDirectoryFiles(dir)
    const { renderer } = recipe
    const needsTemplate = renderer.format === "jinja" && renderer.chatTemplate === undefined
    if (needsTemplate && files.tokenizerConfig === undefined) {
      return yield* new RecipeError({
        source,
        problems: [{ path: "renderer.chatTemplate", message: `the jinja format needs a chat template and ${pinned} has no tokenizer_config.json; give renderer.chatTemplate` }]
      })
    }
    const chatTemplate = needsTemplate && files.tokenizerConfig !== undefined
      ? { ...(yield* readChatTemplateFile(files.tokenizerConfig, source)), source: `${pinned}/tokenizer_config.json` }
      : renderer.chatTemplate
    const withPin: ChatRecipe = {
      ...recipe,
      model: { ...recipe.model, hf: pinned },
      ...(chatTemplate === undefined ? {} : { renderer: { ...renderer, chatTemplate } })
    }
    const tokenizer = recipe.tokenizer.path === undefined && files.tokenizerJson !== undefined
      ? { kind: "huggingface" as const, path: files.tokenizerJson }
      : recipe.tokenizer
    return { pinned: withPin, local: { ...withPin, tokenizer, model: { ...withPin.model, hf: dir } } }
  })
