/** The recipe a segmented run runs: the resolved one its directory holds. */
import { Effect } from "effect"
import { holdsRun, runRecipeFile } from "../../kitchen/run-directory.js"
import { loadAnyRecipe } from "../../recipes/load-recipe.js"
import type { Recipe } from "../../recipes/recipe.js"
import { SegmentInputError } from "./segment-errors.js"

/**
 * Loads `<runDir>/recipe.json`, as `sous run` (or `createSegmentedRun`) wrote it. A directory
 * without one holds no run; a pipeline runs stage by stage, each its own run, so it is
 * refused here.
 */
export const loadRunRecipe = (runDir: string) =>
  Effect.gen(function*() {
    if (!(yield* holdsRun(runDir))) {
      return yield* new SegmentInputError({ message: `${runDir} holds no run (no recipe.json)` })
    }
    const recipe = yield* loadAnyRecipe(runRecipeFile(runDir), [])
    if (recipe.kind === "pipeline") {
      return yield* new SegmentInputError({
        message: `${runRecipeFile(runDir)} is a pipeline; run each of its stages as a run of its own`
      })
    }
    return recipe satisfies Recipe
  })
