/** Checks that refuse a recipe this kitchen cannot run before anything is written. */
import { totalmem } from "node:os"
import { Effect, Result } from "effect"
import { parseS3Uri } from "../adapters/blob/s3-uri.js"
import { parseHubUri } from "../adapters/hub/hub-uri.js"
import { architectureProblem } from "../adapters/local/architecture-problem.js"
import { resolveLora } from "../adapters/local/lora-config.js"
import { tinkerBaseUrlProblem } from "../adapters/tinker/index.js"
import { uriScheme } from "../ports/index.js"
import { recipeArchitecture } from "../recipes/compile-recipe.js"
import { RecipeError } from "../recipes/recipe-error.js"
import { isChatRecipe, type Recipe } from "../recipes/recipe.js"
import { missingApiKey, type ProcessEnv } from "./backend.js"
import { checkRowsOf } from "./data-checks.js"
import { resolveHfModel } from "./hf-model-source.js"
import { memoryProblems } from "./memory-check.js"
import { recipeEnvironment } from "./environment.js"
import type { KitchenOptions } from "./options.js"
import { recipeTokenizer } from "./sources.js"

/** Why this kitchen cannot use `location` for data or checkpoints, or undefined when it can. */
const locationProblem = (location: string): Effect.Effect<string | undefined> => {
  switch (uriScheme(location) ?? "file") {
    case "file":
      return Effect.succeed(undefined)
    case "s3": {
      const parsed = parseS3Uri(location)
      return Effect.succeed(Result.isFailure(parsed) ? parsed.failure : undefined)
    }
    case "hf":
      return parseHubUri(location).pipe(Effect.match({ onFailure: (error) => error.message, onSuccess: () => undefined }))
    default:
      return Effect.succeed(`sous reads and writes local paths, file://, s3:// and hf:// URIs, got ${JSON.stringify(location)}`)
  }
}

/** Why `repo` cannot take a published model: a model repository, `hf://user/name`, with no path. */
const publishRepoProblem = (repo: string): Effect.Effect<string | undefined> =>
  uriScheme(repo) !== "hf"
    ? Effect.succeed(`publishing needs an hf://user/name repository, got ${JSON.stringify(repo)}`)
    : parseHubUri(repo).pipe(Effect.match({
      onFailure: (error) => error.message,
      onSuccess: (location) =>
        location.repoType !== "model" || location.path !== ""
          ? `a model is published to a model repository, hf://user/name, without a path; got ${JSON.stringify(repo)}`
          : undefined
    }))

/**
 * Refuses a recipe whose backend needs a credential that `env` lacks, before a run directory
 * is written. Only `sous run` and `resume` ask: validating or planning a recipe needs no key.
 */
export const checkCredentials = (recipe: Recipe, source: string, env: ProcessEnv = process.env): Effect.Effect<void, RecipeError> => {
  const missing = missingApiKey(recipe.backend, env)
  return missing === undefined ? Effect.void : Effect.fail(new RecipeError({ source, problems: [{ path: "backend.apiKeyEnv", message: missing }] }))
}

/**
 * Checks that this kitchen has an adapter for every location the recipe names and that
 * each is well formed, so a recipe that cannot run is refused before anything is written.
 * `source` names the recipe file.
 */
export const checkAdapters = (
  recipe: Recipe,
  source: string,
  given: Pick<KitchenOptions, "env"> = {}
): Effect.Effect<void, RecipeError> =>
  Effect.gen(function*() {
    const locations: ReadonlyArray<readonly [string, string | undefined]> = [
      ["data.train", recipe.data.train],
      ["data.eval", recipe.data.eval],
      ["checkpoint.uri", recipe.checkpoint.uri],
      ["model.from.store", isChatRecipe(recipe) ? recipe.model.from?.store : undefined],
      ["teacher.store", recipe.kind === "distill" ? recipe.teacher.store : undefined]
    ]
    const problems: Array<{ path: string; message: string }> = []
    for (const [path, location] of locations) {
      const problem = location === undefined ? undefined : yield* locationProblem(location)
      if (problem !== undefined) problems.push({ path, message: problem })
    }
    const tokenizerPath = isChatRecipe(recipe) ? recipe.tokenizer.path : undefined
    if (tokenizerPath !== undefined && (uriScheme(tokenizerPath) ?? "file") !== "file") {
      problems.push({ path: "tokenizer.path", message: `sous reads tokenizer.json from a local path or file:// URI, got ${JSON.stringify(tokenizerPath)}` })
    } else if (tokenizerPath !== undefined) {
      // Loaded here too, so a missing or broken tokenizer.json is refused before a run
      // directory is written, and by validate and plan.
      const loaded = yield* Effect.result(recipeTokenizer(recipe))
      if (loaded._tag === "Failure") problems.push({ path: "tokenizer.path", message: loaded.failure.message })
    }
    // A Hugging Face model is read here too, so validate names what its config.json holds
    // that the local backend cannot run, and the sizes that go beyond it. Only once the
    // tokenizer loaded: the model is checked against its vocabulary. An hf:// model is checked
    // once `checkRecipe` has downloaded it: `plan` and the credential checks download nothing.
    const tokenizer = isChatRecipe(recipe) && recipe.model.hf !== undefined && !recipe.model.hf.startsWith("hf://") && problems.length === 0
      ? yield* Effect.result(recipeTokenizer(recipe))
      : undefined
    if (isChatRecipe(recipe) && tokenizer?._tag === "Success") {
      const architecture = recipeArchitecture(recipe, tokenizer.success.vocabSize)
      const problem = architectureProblem(architecture)
      if (problem !== undefined) problems.push({ path: "model.hf", message: problem })
      const lora = problem === undefined && recipe.model.lora !== undefined ? resolveLora(recipe.model.lora, architecture) : undefined
      if (typeof lora === "string") problems.push({ path: "model.lora", message: lora })
    }
    const repo = isChatRecipe(recipe) ? recipe.publish?.repo : undefined
    if (repo !== undefined) {
      const problem = yield* publishRepoProblem(repo)
      if (problem !== undefined) problems.push({ path: "publish.repo", message: problem })
    }
    // The backend's own check, so validate refuses what run would, and shows no credentials.
    const baseUrlProblem = recipe.backend.kind === "tinker" && recipe.backend.baseUrl !== undefined
      ? tinkerBaseUrlProblem(recipe.backend.baseUrl)
      : undefined
    if (baseUrlProblem !== undefined) problems.push({ path: "backend.baseUrl", message: baseUrlProblem })
    if (recipe.kind === "rl") {
      const environment = yield* Effect.result(recipeEnvironment(recipe, given.env))
      if (environment._tag === "Failure") problems.push(environment.failure)
    }
    if (problems.length > 0) return yield* new RecipeError({ source, problems })
  })

/**
 * Refuses sizes a run of the recipe, over a tokenizer of `vocabSize` ids, cannot hold in
 * `budgetBytes` (this machine's memory by default): see `memoryProblems`.
 */
export const checkMemory = (recipe: Recipe, vocabSize: number, source: string, budgetBytes = totalmem()): Effect.Effect<void, RecipeError> => {
  const problems = memoryProblems(recipe, vocabSize, budgetBytes)
  return problems.length === 0 ? Effect.void : Effect.fail(new RecipeError({ source, problems }))
}

/**
 * Every check of a recipe that `sous validate` makes and `runRecipe` makes before it writes
 * anything: its locations and adapters (`checkAdapters`), its sizes against this machine's
 * memory (`checkMemory`), then every data row (`checkData`). `source` names the recipe file.
 * An `hf://` model is downloaded into the cache first (`resolveHfModel`), since the checks
 * read its config.json and tokenizer.
 */
export const checkRecipe = (written: Recipe, source: string, given: Pick<KitchenOptions, "env"> = {}) =>
  Effect.gen(function*() {
    const { local: recipe } = yield* resolveHfModel(written, source)
    yield* checkAdapters(recipe, source, given)
    const tokenizer = yield* recipeTokenizer(recipe)
    yield* checkMemory(recipe, tokenizer.vocabSize, source)
    yield* checkRowsOf(recipe, tokenizer, source, given)
  })
