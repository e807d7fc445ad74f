import { createHash } from "node:crypto"
import { Schema } from "effect"
import { AnyRecipe } from "./pipeline-recipe.js"

/** The recipe as plain JSON with every default filled in: what the run directory records. */
export const resolvedRecipeJson = (recipe: AnyRecipe): string => JSON.stringify(Schema.encodeSync(AnyRecipe)(recipe), null, 2)

/**
 * Digest of the resolved recipe. Checkpoints record it, so resuming with a changed recipe
 * can be detected. `trackers` (of the recipe or a pipeline's stages) is left out: where a run
 * reports changes nothing it trains, so a run may resume with a tracker added or removed.
 */
export const recipeHash = (recipe: AnyRecipe): string => {
  const json = JSON.stringify(Schema.encodeSync(AnyRecipe)(recipe), (key, value: unknown) => (key === "trackers" ? undefined : value), 2)
  return createHash("sha256").update(json).digest("hex").slice(0, 16)
}
