/**
 * The checks of a recipe's data that `sous validate` makes and a run makes before it writes
 * anything: every row read through its kind's schema, none missing, and each one something
 * the run can train on, so that what the data stages would refuse mid-run is refused first.
 */
import { Effect, Schema, Stream } from "effect"
import { ChatRow, DatasetRowError, DatasetSource, Tokenizer } from "../ports/index.js"
import {
  chatRendererFor,
  checkEnvRows,
  ClassifyRow,
  classifyRowProblem,
  completionRendererFor,
  preferenceRendererFor,
  PreferenceRow,
  renderChatRow,
  renderPreferenceSide,
  renderPromptRow
} from "../stages/index.js"
import { distillWorkflowConfig, preferenceWorkflowConfig, supervisedWorkflowConfig } from "../recipes/compile-recipe.js"
import { RecipeError } from "../recipes/recipe-error.js"
import type { Recipe } from "../recipes/recipe.js"
import { rlEnvironment } from "./environment.js"
import type { KitchenOptions } from "./options.js"
import { datasetSourceLayer, recipeTokenizer } from "./sources.js"

/** The dataset fields of a recipe that name a file, with their paths. */
const dataFiles = (recipe: Recipe): ReadonlyArray<readonly [string, string]> => [
  ["data.train", recipe.data.train],
  ...(recipe.data.eval === undefined ? [] : [["data.eval", recipe.data.eval] as const])
]

/**
 * Reads every row of `uri` as `recipe`'s kind reads it and checks each one as its run would:
 * a supervised or preference row must train a token within the context, a distill prompt
 * leave room for a reply, a classify row fit the input shape and classes, an rl row make an
 * episode of its environment. Answers how many rows there are.
 */
const checkRows = (recipe: Recipe, uri: string, given: Pick<KitchenOptions, "env">) =>
  Effect.gen(function*() {
    const source = yield* DatasetSource
    const sourced = <A>(row: { readonly line: number; readonly value: A }) => ({ ...row, uri })
    switch (recipe.kind) {
      case "supervised": {
        const config = supervisedWorkflowConfig(recipe).render
        const render = yield* chatRendererFor(config)
        const tokenizer = yield* Tokenizer
        return yield* source.rows(uri, ChatRow).pipe(
          Stream.tap((row) => renderChatRow(sourced(row), render, tokenizer, config)),
          Stream.runCount
        )
      }
      case "preference": {
        const config = preferenceWorkflowConfig(recipe).render
        const render = yield* preferenceRendererFor(config)
        const tokenizer = yield* Tokenizer
        return yield* source.rows(uri, PreferenceRow).pipe(
          Stream.tap((row) =>
            Effect.forEach(["chosen", "rejected"] as const, (side) =>
              renderPreferenceSide(sourced(row), side, render, tokenizer, config.contextLength))),
          Stream.runCount
        )
      }
      case "classify":
        return yield* source.rows(uri, ClassifyRow).pipe(
          Stream.tap((row) => {
            const problem = classifyRowProblem(row.value, recipe.data)
            return problem === undefined ? Effect.void : Effect.fail(new DatasetRowError({ uri, line: row.line, message: problem }))
          }),
          Stream.runCount
        )
      case "rl": {
        // An rl row is whatever its environment takes: the factory makes an episode of each.
        const rows = yield* Stream.runCollect(source.rows(uri, Schema.Unknown))
        yield* checkEnvRows((yield* rlEnvironment(recipe, given.env)).make, rows.map(sourced))
        return rows.length
      }
      case "distill": {
        // The student trains on replies it samples: each prompt must leave room for one.
        const config = distillWorkflowConfig(recipe).prompts
        const render = yield* completionRendererFor(config)
        const tokenizer = yield* Tokenizer
        return yield* source.rows(uri, ChatRow).pipe(
          Stream.tap((row) => renderPromptRow(sourced(row), render, tokenizer, config.contextLength)),
          Stream.runCount
        )
      }
    }
  })

/**
 * Reads every dataset row of the recipe and checks it as its run would, with the recipe's
 * `tokenizer`, failing on the first bad row with its file and line, and on a dataset with no
 * rows (empty, or blank lines only) with its field. `source` names the recipe.
 */
export const checkRowsOf = (recipe: Recipe, tokenizer: Tokenizer["Service"], source: string, given: Pick<KitchenOptions, "env">) =>
  Effect.gen(function*() {
    for (const [field, uri] of dataFiles(recipe)) {
      const rows = yield* checkRows(recipe, uri, given)
      if (rows === 0) {
        return yield* new RecipeError({
          source,
          problems: [{ path: field, message: `${uri} holds no rows (it is empty or has blank lines only)` }]
        })
      }
    }
  }).pipe(Effect.provideService(Tokenizer, tokenizer), Effect.provide(datasetSourceLayer))

/**
 * {@link checkRowsOf} with the recipe's own tokenizer. `sous validate` checks every row this
 * way, and `runRecipe` before it writes anything (`checkRecipe`), so bad input never costs a
 * run directory or a committed checkpoint.
 */
export const checkData = (recipe: Recipe, source = "recipe", given: Pick<KitchenOptions, "env"> = {}) =>
  Effect.flatMap(recipeTokenizer(recipe), (tokenizer) => checkRowsOf(recipe, tokenizer, source, given))
