import { Effect, Exit, Schema, SchemaIssue } from "effect"
import { RecipeError, type RecipeProblem } from "./recipe-error.js"
import { Recipe } from "./supervised-recipe.js"

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

const dotted = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>((text, key) => (typeof key === "number" ? `${text}[${key}]` : text === "" ? String(key) : `${text}.${String(key)}`), "")

const valueAt = (input: unknown, path: ReadonlyArray<PropertyKey>): { found: boolean; value?: unknown } => {
  let current: unknown = input
  for (const key of path) {
    if (typeof current !== "object" || current === null || !(key in current)) return { found: false }
    current = (current as Record<PropertyKey, unknown>)[key]
  }
  return { found: true, value: current }
}

const lowerFirst = (text: string) => text.charAt(0).toLowerCase() + text.slice(1)

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
  const problems = formatter(error.value.issue).issues.map((issue): RecipeProblem => {
    const path = (issue.path ?? []).map((segment) => (typeof segment === "object" ? segment.key : segment))
    const found = valueAt(input, path)
    const got = found.found && !issue.message.includes("excess") ? `, got ${JSON.stringify(found.value)}` : ""
    return { path: dotted(path), message: `${lowerFirst(issue.message)}${got}` }
  })
  return Effect.fail(new RecipeError({ source, problems }))
}
