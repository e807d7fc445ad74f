/**
 * The composition root: turns a recipe's adapter settings into layers for the ports its
 * workflow needs, and runs it. With cli/, the only code that imports adapters.
 */
import { randomUUID } from "node:crypto"
import { fileURLToPath } from "node:url"
import { join } from "node:path"
import { Effect, Layer, Stream } from "effect"
import { fsBlobStoreLayer } from "./adapters/blob/fs-blob-store.js"
import { jsonlFileSource, jsonlFileSourceLayer } from "./adapters/datasets/jsonl-file-source.js"
import { localBackendLayer } from "./adapters/local/local-backend.js"
import { combineSinks } from "./adapters/metrics/combine-sinks.js"
import { makeJsonlMetricsSink } from "./adapters/metrics/jsonl-metrics-sink.js"
import { makeByteTokenizer } from "./adapters/tokenizers/byte-tokenizer.js"
import { MetricsSink, Tokenizer, uriScheme } from "./ports/index.js"
import { ChatRow } from "./stages/index.js"
import { compileRecipe } from "./recipes/compile-recipe.js"
import { RecipeError } from "./recipes/recipe-error.js"
import { recipeHash } from "./recipes/recipe-hash.js"
import type { Recipe } from "./recipes/supervised-recipe.js"
import { runWorkflow } from "./workflows/index.js"

/** Where a run writes and who else listens to its metrics. */
export interface KitchenOptions {
  /** The run directory: metrics, events, summary and (by default) checkpoints. */
  readonly runDir: string
  /** Extra metrics sinks (a progress display, a tracking service). */
  readonly sinks?: ReadonlyArray<MetricsSink["Service"]>
}

/**
 * Checks that this kitchen has an adapter for every location the recipe names, so a recipe
 * that cannot run is refused before anything is written. `source` names the recipe file.
 */
export const checkAdapters = (recipe: Recipe, source: string): Effect.Effect<void, RecipeError> => {
  const locations: ReadonlyArray<readonly [string, string | undefined]> = [
    ["data.train", recipe.data.train],
    ["data.eval", recipe.data.eval],
    ["checkpoint.uri", recipe.checkpoint.uri]
  ]
  const problems = locations.flatMap(([path, location]) => {
    const scheme = location === undefined ? undefined : uriScheme(location)
    return scheme === undefined || scheme === "file"
      ? []
      : [{ path, message: `only local files and file:// URIs are supported so far, got ${JSON.stringify(location)}` }]
  })
  return problems.length === 0 ? Effect.void : Effect.fail(new RecipeError({ source, problems }))
}

/**
 * Reads every dataset row of the recipe through its schema, failing on the first bad row
 * (with its file and line). `sous run --overwrite` calls it before removing the previous run,
 * so bad input never costs a committed checkpoint.
 */
export const checkData = (recipe: Recipe) =>
  Effect.forEach(
    [recipe.data.train, ...(recipe.data.eval === undefined ? [] : [recipe.data.eval])],
    (uri) => Stream.runDrain(jsonlFileSource.rows(uri, ChatRow)),
    { discard: true }
  )

/** The directory of the checkpoint store: `file://` URIs and plain paths (see `checkAdapters`). */
const checkpointDirectory = (recipe: Recipe, runDir: string): string => {
  const uri = recipe.checkpoint.uri
  if (uri === undefined) return join(runDir, "checkpoints")
  return uri.startsWith("file://") ? fileURLToPath(uri) : uri
}

/** Layers for every port a supervised recipe's workflow needs, built from its settings. */
export const kitchenLayer = (recipe: Recipe, options: KitchenOptions) => {
  const tokenizer = makeByteTokenizer()
  return Layer.mergeAll(
    localBackendLayer({ device: recipe.backend.device, decode: tokenizer.decode }),
    Layer.succeed(Tokenizer, tokenizer),
    jsonlFileSourceLayer,
    fsBlobStoreLayer(checkpointDirectory(recipe, options.runDir)),
    Layer.effect(
      MetricsSink,
      Effect.map(makeJsonlMetricsSink(options.runDir), (jsonl) => combineSinks([jsonl, ...(options.sinks ?? [])]))
    )
  )
}

/**
 * Compiles and runs a recipe to the end: the library entry point behind `sous run`.
 * Resolves with the runner's result (final step and state).
 */
export const runRecipe = (recipe: Recipe, options: KitchenOptions) =>
  Effect.gen(function*() {
    yield* checkAdapters(recipe, "recipe")
    const compiled = compileRecipe(recipe, { runId: randomUUID(), recipeHash: recipeHash(recipe), startedAt: Date.now() })
    const ports = Layer.provideMerge(compiled.clientLayer, kitchenLayer(recipe, options))
    return yield* runWorkflow(compiled.workflow, { initialState: compiled.initialState }).pipe(Effect.provide(ports))
  })
