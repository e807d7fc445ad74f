/** What `sous render` shows: rows rendered as a run would render them. */
import { Effect, Stream } from "effect"
import { ChatRow, DatasetSource, type Datum, toInts, Tokenizer } from "../ports/index.js"
import { chatRendererFor, markTrained, preferenceDatum, preferenceRendererFor, PreferenceRow, type RenderedChat } from "../stages/index.js"
import { preferenceWorkflowConfig, supervisedWorkflowConfig } from "../recipes/compile-recipe.js"
import type { PreferenceRecipe } from "../recipes/preference-recipe.js"
import type { SupervisedRecipe } from "../recipes/supervised-recipe.js"
import { RecipeError } from "../recipes/recipe-error.js"
import type { Recipe } from "../recipes/recipe.js"
import { checkAdapters } from "./checks.js"
import { datasetSourceLayer, recipeTokenizer } from "./sources.js"

/** One conversation as a recipe renders it. */
export interface RenderedPreview {
  /** `file:line` of the row, and for a preference row which reply. */
  readonly source: string
  /** The rendered text, trained tokens between `[[` and `]]`. */
  readonly text: string
  readonly tokens: number
  readonly trained: number
}

/** A datum's whole sequence (input and last target) with the weight of each token. */
const datumSequence = (datum: Datum): RenderedChat => {
  const targets = datum.loss_fn_inputs["target_tokens"]!.data
  return {
    tokens: [...toInts(datum.model_input), ...targets.slice(-1)],
    weights: [0, ...(datum.loss_fn_inputs["weights"]?.data ?? [])]
  }
}

const preview = (tokenizer: Tokenizer["Service"], source: string, rendered: RenderedChat): RenderedPreview => ({
  source,
  text: markTrained(tokenizer, rendered, { open: "[[", close: "]]" }),
  tokens: rendered.tokens.length,
  trained: rendered.weights.filter((w) => w > 0).length
})

/** Supervised rows: each conversation with its trained messages marked. */
const supervisedPreviews = (recipe: SupervisedRecipe, tokenizer: Tokenizer["Service"], limit: number) =>
  Effect.gen(function*() {
    const render = yield* chatRendererFor(supervisedWorkflowConfig(recipe).render)
    const rows = yield* Stream.runCollect((yield* DatasetSource).rows(recipe.data.train, ChatRow).pipe(Stream.take(limit)))
    return yield* Effect.forEach(rows, (row) =>
      Effect.map(render(row.value.messages, tokenizer), (rendered) => preview(tokenizer, `${recipe.data.train}:${row.line}`, rendered)))
  })

/** Preference rows: the prompt with the chosen reply, then with the rejected one, replies marked. */
const preferencePreviews = (recipe: PreferenceRecipe, tokenizer: Tokenizer["Service"], limit: number) =>
  Effect.gen(function*() {
    const render = yield* preferenceRendererFor(preferenceWorkflowConfig(recipe).render)
    const rows = yield* Stream.runCollect((yield* DatasetSource).rows(recipe.data.train, PreferenceRow).pipe(Stream.take(limit)))
    const previews: Array<RenderedPreview> = []
    for (const row of rows) {
      for (const side of ["chosen", "rejected"] as const) {
        const { datum } = yield* preferenceDatum(row.value.prompt, row.value[side], render, tokenizer, recipe.model.contextLength)
        previews.push(preview(tokenizer, `${recipe.data.train}:${row.line} ${side}`, datumSequence(datum)))
      }
    }
    return previews
  })

/**
 * The first `limit` training rows rendered as the recipe's run would render them, with the
 * trained text marked: what `sous render` shows, so masks can be checked before a run is
 * paid for. Supervised recipes show each conversation, preference recipes each pair.
 */
export const renderPreview = (recipe: Recipe, limit: number, source = "recipe") =>
  Effect.gen(function*() {
    if (recipe.kind !== "supervised" && recipe.kind !== "preference") {
      return yield* new RecipeError({
        source,
        problems: [{
          path: "kind",
          message: `sous render previews the trained tokens of supervised and preference rows; ${
            recipe.kind === "classify" ? "a classify recipe has no text to render" : `a ${recipe.kind} recipe trains on replies it samples during the run`
          }`
        }]
      })
    }
    yield* checkAdapters(recipe, source)
    const tokenizer = yield* recipeTokenizer(recipe)
    return recipe.kind === "supervised"
      ? yield* supervisedPreviews(recipe, tokenizer, limit)
      : yield* preferencePreviews(recipe, tokenizer, limit)
  }).pipe(Effect.provide(datasetSourceLayer))

