import { Schema } from "effect"
import { Location, NonNegativeInt, PositiveInt, PositiveNumber, withDefault } from "./schema-fields.js"
import { chatRecipeFields, DataSection } from "./recipe-sections.js"

const NonNegativeNumber = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0, { expected: "a number >= 0" }))

/**
 * The environment rollouts run in: a built-in one by name; a TypeScript/JavaScript module
 * (a path relative to the recipe) and the name of its export, an `EnvFactory`; or, for a
 * recipe run from code, `provided`: the name of the factory the program passes to
 * `runRecipe` (`KitchenOptions.env`), recorded in the recipe (and so its hash).
 */
export const EnvSection = Schema.Union([
  Schema.Struct({ builtin: Schema.Literal("arithmetic") }),
  Schema.Struct({ module: Location, export: withDefault(Schema.String, "default") }),
  Schema.Struct({ provided: Schema.String })
])
export type EnvSection = typeof EnvSection.Type

/**
 * GRPO-style reinforcement learning: `groupSize` rollouts per prompt (`training.batchSize`
 * prompts a step), advantages centred in each group, groups of equal rewards dropped.
 * The sampler is refreshed from the current weights every step, or every `maxStaleness + 1`
 * steps. `klCoef` > 0 adds a KL penalty against the starting weights to the advantages.
 */
export const RlSection = Schema.Struct({
  groupSize: withDefault(PositiveInt.check(Schema.isGreaterThanOrEqualTo(2, { expected: "at least 2 rollouts per group" })), 8),
  maxTokens: withDefault(PositiveInt, 16),
  maxTurns: withDefault(PositiveInt, 1),
  temperature: withDefault(PositiveNumber, 1),
  loss: withDefault(Schema.Literals(["importance_sampling", "ppo"]), "importance_sampling"),
  klCoef: withDefault(NonNegativeNumber, 0),
  maxStaleness: withDefault(NonNegativeInt, 0)
})

/** Reinforcement learning of a chat model against an environment's rewards. */
export const RlRecipe = Schema.Struct({
  kind: Schema.Literal("rl"),
  ...chatRecipeFields,
  data: DataSection,
  env: EnvSection,
  rl: withDefault(RlSection, {})
})
export type RlRecipe = typeof RlRecipe.Type
