import { Schema } from "effect"
import { ClassifyRecipe } from "./classify-recipe.js"
import { DistillRecipe } from "./distill-recipe.js"
import { PreferenceRecipe } from "./preference-recipe.js"
import { RlRecipe } from "./rl-recipe.js"
import { SupervisedRecipe } from "./supervised-recipe.js"

/** Every recipe that trains one model, told apart by `kind`. */
export const Recipe = Schema.Union([SupervisedRecipe, ClassifyRecipe, PreferenceRecipe, RlRecipe, DistillRecipe])
export type Recipe = typeof Recipe.Type

/** The recipes that train a chat model: every kind but `classify`. */
export type ChatRecipe = Exclude<Recipe, ClassifyRecipe>

/** Whether a recipe trains a chat model (and so has a tokenizer and a renderer). */
export const isChatRecipe = (recipe: Recipe): recipe is ChatRecipe => recipe.kind !== "classify"

/** The schema of each recipe kind, by `kind`. */
export const recipeKinds = {
  supervised: SupervisedRecipe,
  classify: ClassifyRecipe,
  preference: PreferenceRecipe,
  rl: RlRecipe,
  distill: DistillRecipe
} as const
export type RecipeKind = keyof typeof recipeKinds
