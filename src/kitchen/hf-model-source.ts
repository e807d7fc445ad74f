import { Effect } from "effect"
import { downloadHfModel } from "../adapters/hub/hf-model-download.js"
import { withDownloadedHfModel } from "../recipes/hf-model-recipe.js"
import { RecipeError } from "../recipes/recipe-error.js"
import { isChatRecipe, type Recipe } from "../recipes/recipe.js"

/**
 * Downloads the model of an `hf://org/name[@revision]` `model.hf` into the cache (see
 * `downloadHfModel`) and answers the pinned and local forms of the recipe, which take from
 * the downloaded directory what a local one gives (`withDownloadedHfModel`). A recipe
 * without `hf://` is both forms as it is, its hash unchanged. A failed download is a
 * {@link RecipeError} at `model.hf` that names the repo.
 */
export const resolveHfModel = (recipe: Recipe, source: string): Effect.Effect<{ readonly pinned: Recipe; readonly local: Recipe }, RecipeError> =>
  Effect.gen(function*() {
    const hf = isChatRecipe(recipe) ? recipe.model.hf : undefined
    if (!isChatRecipe(recipe) || hf === undefined || !hf.startsWith("hf://")) return { pinned: recipe, local: recipe }
    const downloaded = yield* downloadHfModel(hf).pipe(
      Effect.mapError((error) => new RecipeError({ source, problems: [{ path: "model.hf", message: error.message }], cause: error }))
    )
    if (downloaded.fetched.length > 0) yield* Effect.logInfo(`downloaded ${downloaded.fetched.length} files of ${downloaded.pinned} into ${downloaded.dir}`)
    return yield* withDownloadedHfModel(recipe, downloaded.dir, downloaded.pinned, source)
  })
