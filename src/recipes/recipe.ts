import { Schema } from "effect"
import { ClassifyRecipe } from "./classify-recipe.js"
import { SupervisedRecipe } from "./supervised-recipe.js"

/** Every recipe kind sous knows, told apart by `kind`. */
export const Recipe = Schema.Union([SupervisedRecipe, ClassifyRecipe])
export type Recipe = typeof Recipe.Type

/** The schema of each recipe kind, by `kind`. */
export const recipeKinds = {
  supervised: SupervisedRecipe,
  classify: ClassifyRecipe
} as const
export type RecipeKind = keyof typeof recipeKinds
