import { createHash } from "node:crypto"
import { Schema } from "effect"
import { AnyRecipe } from "./pipeline-recipe.js"

/** The recipe as plain JSON with every default filled in: what the run directory records. */
export const resolvedRecipeJson = (recipe: AnyRecipe): string => JSON.stringify(Schema.encodeSync(AnyRecipe)(recipe), null, 2)

/**
 * Digest of the resolved recipe. Checkpoints record it, so resuming with a changed recipe
 * can be detected.
 */
export const recipeHash = (recipe: AnyRecipe): string =>
  createHash("sha256").update(resolvedRecipeJson(recipe)).digest("hex").slice(0, 16)
