import { Schema } from "effect"
import { chatRecipeFields, DataSection } from "./recipe-sections.js"

/** A supervised fine-tuning recipe: chat SFT with `cross_entropy` on the trained tokens. */
export const SupervisedRecipe = Schema.Struct({
  kind: Schema.Literal("supervised"),
  ...chatRecipeFields,
  data: DataSection
})
export type SupervisedRecipe = typeof SupervisedRecipe.Type

