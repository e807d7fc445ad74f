import { access } from "node:fs/promises"
import { join } from "node:path"
import { Effect } from "effect"
import { downloadHfModel } from "../adapters/hub/hf-model-download.js"
import { RecipeError } from "../recipes/recipe-error.js"
import { isChatRecipe, type Recipe } from "../recipes/recipe.js"

/** A recipe whose `model.hf` may be `hf://`, in the two forms a run needs. */
export interface HfModelRecipes {
  /**
   * The recipe with `model.hf` pinned to `hf://org/name@<commit>`: what is hashed, so a
   * checkpoint records the commit and resuming after the branch moved is refused. A recipe
   * without `hf://` is returned as it is, its hash unchanged.
   */
  readonly pinned: Recipe
  /**
   * The recipe with `model.hf` the downloaded directory, and without a tokenizer path, the
   * directory's tokenizer.json (as loading a recipe does for a local directory): what runs.
   */
  readonly local: Recipe
}

const exists = (path: string): Effect.Effect<boolean> => Effect.promise(() => access(path).then(() => true, () => false))

/**
 * Downloads the model of an `hf://org/name[@revision]` `model.hf` into the cache (see
 * `downloadHfModel`) and answers the pinned and local forms of the recipe. A failed
 * download is a {@link RecipeError} at `model.hf` that names the repo.
 */
export const resolveHfModel = (recipe: Recipe, source: string): Effect.Effect<HfModelRecipes, RecipeError> =>
  Effect.gen(function*() {
    const hf = isChatRecipe(recipe) ? recipe.model.hf : undefined
    if (!isChatRecipe(recipe) || hf === undefined || !hf.startsWith("hf://")) return { pinned: recipe, local: recipe }
    const downloaded = yield* downloadHfModel(hf).pipe(
      Effect.mapError((error) => new RecipeError({ source, problems: [{ path: "model.hf", message: error.message }], cause: error }))
    )
    if (downloaded.fetched.length > 0) yield* Effect.logInfo(`downloaded ${downloaded.fetched.length} files of ${downloaded.pinned} into ${downloaded.dir}`)
    const tokenizerJson = join(downloaded.dir, "tokenizer.json")
    const tokenizer = recipe.tokenizer.path === undefined && (yield* exists(tokenizerJson))
      ? { kind: "huggingface" as const, path: tokenizerJson }
      : recipe.tokenizer
    return {
      pinned: { ...recipe, model: { ...recipe.model, hf: downloaded.pinned } },
      local: { ...recipe, tokenizer, model: { ...recipe.model, hf: downloaded.dir } }
    }
  })
