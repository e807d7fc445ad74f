import type { Recipe, SupervisedRecipe } from "../../src/recipes/index.js"

/** The recipe, narrowed to the supervised kind; throws for another kind. */
export const asSupervised = (recipe: Recipe): SupervisedRecipe => {
  if (recipe.kind !== "supervised") throw new Error(`expected a supervised recipe, got ${recipe.kind}`)
  return recipe
}
