import { Effect, Exit, Schema } from "effect"
import { schemaProblems } from "../ports/index.js"
import { type ChatRecipe, isChatRecipe, Recipe } from "./recipe.js"
import { RecipeError, type RecipeProblem } from "./recipe-error.js"
import type { CheckpointRef } from "./recipe-sections.js"
import { withDefault } from "./schema-fields.js"

/** A stage name: it names the stage's run directory, so it is a plain file name. */
const StageName = Schema.String.check(
  Schema.isPattern(/^[a-z0-9][a-z0-9_-]*$/u, { expected: "a name of lowercase letters, digits, - and _" })
)

/** One stage of a pipeline: a recipe of any training kind, run in `<out>/<name>`. */
export const PipelineStage = Schema.Struct({
  name: StageName,
  recipe: Recipe
})
export type PipelineStage = typeof PipelineStage.Type

/**
 * Recipes run in sequence (SFT, then RL, say). Every stage after the first starts from the
 * final checkpoint of the stage before it, by reference: its `model.from` is set to it.
 * In a recipe file a stage's `recipe` is the path of a recipe file (relative to the pipeline
 * file), with `set` overrides applied to it, or a recipe written inline.
 */
export const PipelineRecipe = Schema.Struct({
  kind: Schema.Literal("pipeline"),
  name: withDefault(Schema.String, "pipeline"),
  stages: Schema.Array(PipelineStage).check(Schema.isMinLength(1))
})
export type PipelineRecipe = typeof PipelineRecipe.Type

/** A recipe file's content: one training recipe, or a pipeline of them. */
export const AnyRecipe = Schema.Union([Recipe, PipelineRecipe])
export type AnyRecipe = typeof AnyRecipe.Type

/** Checks a pipeline's stages as a whole: unique names, and stages that can take weights. */
export const pipelineProblems = (pipeline: PipelineRecipe): Array<RecipeProblem> =>
  pipeline.stages.flatMap((stage, index): Array<RecipeProblem> => {
    const path = `stages[${index}]`
    if (pipeline.stages.findIndex((other) => other.name === stage.name) !== index) {
      return [{ path: `${path}.name`, message: `stage name ${JSON.stringify(stage.name)} is used twice (it names the stage's run directory)` }]
    }
    if (index > 0 && !isChatRecipe(stage.recipe)) {
      return [{ path: `${path}.recipe.kind`, message: `a ${stage.recipe.kind} recipe trains a model from scratch and cannot start from the previous stage` }]
    }
    return []
  })

/**
 * A stage's recipe as the pipeline runs it: after the first stage, starting from the final
 * checkpoint of the stage before it (in `previousStore`), whatever `model.from` it had.
 */
export const linkedStageRecipe = (stage: PipelineStage, previousStore: string | undefined): Recipe => {
  if (previousStore === undefined || !isChatRecipe(stage.recipe)) return stage.recipe
  const from: CheckpointRef = { store: previousStore, checkpoint: "final" }
  const recipe: ChatRecipe = stage.recipe
  return { ...recipe, model: { ...recipe.model, from } }
}

/**
 * Decodes a pipeline whose stages hold decoded recipes (a file's, once each stage is loaded;
 * or ones built in code), with every problem named by its path in `input`: the schema's, then
 * `pipelineProblems`.
 */
export const decodePipeline = (input: object, source: string): Effect.Effect<PipelineRecipe, RecipeError> => {
  const exit = Schema.decodeUnknownExit(PipelineRecipe)(input, { errors: "all", onExcessProperty: "error" })
  if (Exit.isFailure(exit)) {
    const error = Exit.findErrorOption(exit)
    return error._tag === "None" ? Effect.die(exit.cause) : Effect.fail(new RecipeError({ source, problems: schemaProblems(error.value, input) }))
  }
  const problems = pipelineProblems(exit.value)
  return problems.length === 0 ? Effect.succeed(exit.value) : Effect.fail(new RecipeError({ source, problems }))
}
