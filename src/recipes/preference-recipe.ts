import { Schema } from "effect"
import { PositiveNumber, withDefault } from "./schema-fields.js"
import { chatRecipeFields, DataSection } from "./recipe-sections.js"

/** DPO settings: `beta` holds the policy to the reference (the starting weights). */
export const PreferenceSection = Schema.Struct({
  beta: withDefault(PositiveNumber, 0.1)
})

/**
 * Direct preference optimization on JSONL rows `{"prompt": [messages], "chosen": [messages],
 * "rejected": [messages]}`: the chosen and rejected replies continue the prompt. The
 * reference is the model the run starts from (`model.from`, or the base model).
 */
export const PreferenceRecipe = Schema.Struct({
  kind: Schema.Literal("preference"),
  ...chatRecipeFields,
  data: DataSection,
  preference: withDefault(PreferenceSection, {})
})
export type PreferenceRecipe = typeof PreferenceRecipe.Type
