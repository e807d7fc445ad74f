import { Schema } from "effect"
import { PositiveInt, PositiveNumber, withDefault } from "./schema-fields.js"
import { chatRecipeFields, CheckpointRef, DataSection } from "./recipe-sections.js"

/**
 * How the student learns from the teacher. `on_policy`: the student samples `groupSize`
 * replies per prompt, the teacher scores them with `computeLogprobs`, and the per-token
 * reverse KL is the (negative) advantage. `off_policy`: the teacher samples the replies and
 * the student is trained on them with `cross_entropy`. Replies are sampled step by step, at
 * most `maxTokens` tokens each, at `temperature`; the student's logprobs are its sampler's,
 * so at a temperature other than 1 the KL is that of the temperature-scaled student.
 */
export const DistillSection = Schema.Struct({
  mode: withDefault(Schema.Literals(["on_policy", "off_policy"]), "on_policy"),
  groupSize: withDefault(PositiveInt, 4),
  maxTokens: withDefault(PositiveInt, 16),
  temperature: withDefault(PositiveNumber, 1)
})

/**
 * Distillation of a teacher checkpoint into the student model, on the prompts of JSONL chat
 * rows (`{"messages": [...]}`; a final assistant message, if any, is dropped).
 */
export const DistillRecipe = Schema.Struct({
  kind: Schema.Literal("distill"),
  ...chatRecipeFields,
  data: DataSection,
  teacher: CheckpointRef,
  distill: withDefault(DistillSection, {})
})
export type DistillRecipe = typeof DistillRecipe.Type
