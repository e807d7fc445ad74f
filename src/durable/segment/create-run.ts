/**
 * Starting a run that segments will carry out: the run directory with its resolved recipe,
 * as `sous run` writes it, and nothing else yet. (Its own module: the checks load the
 * kitchen's adapters, TensorFlow.js among them, which `runSegment` does not need.)
 */
import { Effect } from "effect"
import { checkCredentials, checkRecipe } from "../../kitchen/checks.js"
import { prepareRunDirectory, runFiles } from "../../kitchen/run-directory.js"
import { loadAnyRecipe } from "../../recipes/load-recipe.js"
import { resolvedRecipeJson } from "../../recipes/recipe-hash.js"
import { SegmentInputError } from "./segment-errors.js"

/** What a segmented run starts from. */
export interface CreateSegmentedRunOptions {
  /** The recipe file (YAML or JSON). */
  readonly recipeFile: string
  /** `path=value` overrides, as `sous run --set` takes them. */
  readonly sets?: ReadonlyArray<string>
  readonly runDir: string
  /** Replace a run the directory already holds (its own files only), as `sous run --overwrite`. */
  readonly overwrite?: boolean
}

/** A segmented run's own files: a run's, the attempts' directories and the adoption lock. */
const segmentedRunFiles = [...runFiles, "attempts", "adopt.lock"]

/**
 * Loads and checks the recipe as `sous run` does (adapters, memory, every data row,
 * credentials), so a recipe that would fail at its start writes nothing; then writes
 * `<runDir>/recipe.json`, refusing a directory that holds a run unless `overwrite`. The run's
 * recipe hash is that of `sous run` with the same file and overrides, so its checkpoints
 * are interchangeable with an uninterrupted run's. Resolves with the recipe.
 */
export const createSegmentedRun = (options: CreateSegmentedRunOptions) =>
  Effect.gen(function*() {
    const recipe = yield* loadAnyRecipe(options.recipeFile, options.sets ?? [])
    if (recipe.kind === "pipeline") {
      return yield* new SegmentInputError({ message: `${options.recipeFile} is a pipeline; start each of its stages as a run of its own` })
    }
    yield* checkRecipe(recipe, options.recipeFile)
    yield* checkCredentials(recipe, options.recipeFile)
    yield* prepareRunDirectory(options.runDir, resolvedRecipeJson(recipe), options.overwrite ?? false, segmentedRunFiles)
    return recipe
  })
