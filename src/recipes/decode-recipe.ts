import { Effect, Exit, Schema } from "effect"
import { schemaProblems } from "../ports/index.js"
import { RecipeError, type RecipeProblem } from "./recipe-error.js"
import { Recipe } from "./supervised-recipe.js"

/** Checks that need several fields at once, which a per-field schema cannot see. */
const crossFieldProblems = (recipe: Recipe): Array<RecipeProblem> => {
  const problems: Array<RecipeProblem> = []
  if (recipe.model.width % recipe.model.heads !== 0) {
    problems.push({ path: "model.heads", message: `must divide model.width (${recipe.model.width}), got ${recipe.model.heads}` })
  }
  if (recipe.training.steps !== undefined && recipe.optimizer.warmupSteps > recipe.training.steps) {
    problems.push({
      path: "optimizer.warmupSteps",
      message: `must not exceed training.steps (${recipe.training.steps}), got ${recipe.optimizer.warmupSteps}`
    })
  }
  if (recipe.tokenizer.kind === "huggingface" && recipe.tokenizer.path === undefined) {
    problems.push({ path: "tokenizer.path", message: "a huggingface tokenizer needs the path of its tokenizer.json" })
  }
  if (recipe.tokenizer.kind === "byte" && recipe.tokenizer.path !== undefined) {
    problems.push({ path: "tokenizer.path", message: "the byte tokenizer reads no file; set tokenizer.kind: huggingface to use one" })
  }
  return problems
}

/**
 * Decodes a parsed recipe, reporting every problem with its path and the value found there,
 * e.g. `optimizer.lr: expected a positive number, got -1`. Unknown keys are errors, so a
 * typo never silently falls back to a default.
 */
export const decodeRecipe = (input: unknown, source: string): Effect.Effect<Recipe, RecipeError> => {
  const exit = Schema.decodeUnknownExit(Recipe)(input, { errors: "all", onExcessProperty: "error" })
  if (Exit.isSuccess(exit)) {
    const problems = crossFieldProblems(exit.value)
    return problems.length === 0 ? Effect.succeed(exit.value) : Effect.fail(new RecipeError({ source, problems }))
  }
  const error = Exit.findErrorOption(exit)
  if (error._tag === "None") return Effect.die(exit.cause)
  return Effect.fail(new RecipeError({ source, problems: schemaProblems(error.value, input) }))
}
