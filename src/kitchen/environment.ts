/** The environment of an rl recipe, from a built-in, a module or code. */
import { Effect } from "effect"
import { arithmeticEnv } from "../adapters/envs/arithmetic-env.js"
import { loadEnvModule } from "../adapters/envs/load-env-module.js"
import { type EnvFactory, Environment } from "../ports/index.js"
import { RecipeError, type RecipeProblem } from "../recipes/recipe-error.js"
import type { RlRecipe } from "../recipes/rl-recipe.js"

/**
 * The environment of an rl recipe: a built-in by name, the export of a module (imported
 * here, so a missing file, a missing export or one that is not a function is refused before
 * a run), or the factory passed in code for `env: { provided: name }`.
 */
export const recipeEnvironment = (recipe: RlRecipe, given: EnvFactory | undefined): Effect.Effect<Environment["Service"], RecipeProblem> => {
  const env = recipe.env
  if ("provided" in env) {
    return given === undefined
      ? Effect.fail({
        path: "env.provided",
        message: `names an environment passed in code (runRecipe's env option), and none was passed; ` +
          `sous run cannot pass one: name a module and its export, or a builtin environment`
      })
      : Effect.succeed({ make: given, description: `${env.provided} (passed in code)` })
  }
  if (given !== undefined) {
    return Effect.fail({ path: "env", message: "an environment was passed in code, but the recipe names another: set env to { provided: <name> } to use the one passed" })
  }
  if ("builtin" in env) return Effect.succeed({ make: arithmeticEnv, description: `builtin ${env.builtin}` })
  return loadEnvModule(env.module, env.export).pipe(
    Effect.map((make) => ({ make, description: `export ${env.export} of ${env.module}` })),
    Effect.mapError((error) => ({ path: error.field, message: error.message }))
  )
}

/** {@link recipeEnvironment}, failing with a recipe error. */
export const rlEnvironment = (recipe: RlRecipe, given: EnvFactory | undefined) =>
  Effect.mapError(recipeEnvironment(recipe, given), (problem) => new RecipeError({ source: "recipe", problems: [problem] }))

