/** The layers of every port a recipe's workflow needs. */
import { Effect, Layer } from "effect"
import { hubPublisherLayer } from "../adapters/hub/hub-publisher.js"
import { combineSinks } from "../adapters/metrics/combine-sinks.js"
import { makeJsonlMetricsSink } from "../adapters/metrics/jsonl-metrics-sink.js"
import { Environment, MetricsSink, Tokenizer } from "../ports/index.js"
import type { Recipe } from "../recipes/recipe.js"
import { backendLayer } from "./backend.js"
import { rlEnvironment } from "./environment.js"
import type { KitchenOptions } from "./options.js"
import { checkpointStoreLayer, datasetSourceLayer, modelSourcesLayer } from "./sources.js"
import { trackerSinks } from "./trackers.js"

/**
 * Layers for every port a recipe's workflow needs, built from its settings.
 * `tokenizer` is the recipe's (`recipeTokenizer`), built once by the caller: the
 * local backend decodes samples with it, and resume compares its id with the checkpoint's.
 */
export const kitchenLayer = (recipe: Recipe, options: KitchenOptions, tokenizer: Tokenizer["Service"]) => {
  const jsonlOptions = options.resumeAfter === undefined ? {} : { resumeAfter: options.resumeAfter }
  return Layer.mergeAll(
    backendLayer(recipe.backend, tokenizer),
    Layer.succeed(Tokenizer, tokenizer),
    modelSourcesLayer(recipe, tokenizer),
    // Only rl recipes have an environment; the other kinds' workflows never read one.
    recipe.kind === "rl" ? Layer.effect(Environment, rlEnvironment(recipe, options.env)) : Layer.empty,
    datasetSourceLayer,
    checkpointStoreLayer(recipe, options.runDir),
    hubPublisherLayer(),
    // The trackers open after the JSONL files, so they close (an MLflow run gets its final
    // status) before the files do.
    Layer.effect(
      MetricsSink,
      Effect.gen(function*() {
        const jsonl = yield* makeJsonlMetricsSink(options.runDir, jsonlOptions)
        const trackers = yield* trackerSinks(recipe, options.trackerHome ?? options.runDir, options.resumeAfter)
        return combineSinks([jsonl, ...trackers, ...(options.sinks ?? [])])
      })
    )
  )
}

