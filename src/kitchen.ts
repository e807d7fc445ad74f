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
import { type CheckpointManifest, InvalidRequestError, MetricsSink, Tokenizer, uriScheme } from "./ports/index.js"
import { ChatRow, decodeDurableRunState, newestCheckpoint, restoreCheckpoint } from "./stages/index.js"
import { compileRecipe, supervisedWorkflowConfig } from "./recipes/compile-recipe.js"
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
  /** A resumed run continues after the checkpoint of this step: later metrics lines are dropped. */
  readonly resumeAfterStep?: number
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

/** The store a recipe's checkpoints go to. */
export const checkpointStoreLayer = (recipe: Recipe, runDir: string) =>
  fsBlobStoreLayer(checkpointDirectory(recipe, runDir))

/** Layers for every port a supervised recipe's workflow needs, built from its settings. */
export const kitchenLayer = (recipe: Recipe, options: KitchenOptions) => {
  const tokenizer = makeByteTokenizer()
  const jsonlOptions = options.resumeAfterStep === undefined ? {} : { resumeAfterStep: options.resumeAfterStep }
  return Layer.mergeAll(
    localBackendLayer({ device: recipe.backend.device, decode: tokenizer.decode }),
    Layer.succeed(Tokenizer, tokenizer),
    jsonlFileSourceLayer,
    checkpointStoreLayer(recipe, options.runDir),
    Layer.effect(
      MetricsSink,
      Effect.map(
        makeJsonlMetricsSink(options.runDir, jsonlOptions),
        (jsonl) => combineSinks([jsonl, ...(options.sinks ?? [])])
      )
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

/** A checkpoint that was written for another recipe, renderer or tokenizer than the one resuming. */
const mismatch = (manifest: CheckpointManifest, recipe: Recipe, rendererId: string, tokenizerId: string) => {
  const differences = [
    manifest.recipeHash === recipeHash(recipe) ? undefined : `recipe hash ${manifest.recipeHash} (now ${recipeHash(recipe)})`,
    manifest.rendererId === rendererId ? undefined : `renderer ${manifest.rendererId} (now ${rendererId})`,
    manifest.tokenizerId === tokenizerId ? undefined : `tokenizer ${manifest.tokenizerId} (now ${tokenizerId})`
  ].filter((d) => d !== undefined)
  return differences.length === 0
    ? undefined
    : new InvalidRequestError({
      operation: "resume",
      message: `checkpoint ${manifest.name} was written with ${differences.join(", ")}; resume it with the recipe it was written for`
    })
}

/**
 * Continues a run from the newest committed checkpoint in its store, so that the result
 * equals an uninterrupted run: the weights and optimizer state are restored, the data cursor
 * and summary come back from the manifest, the data stages run again, training goes on after
 * the checkpoint stage, and metrics lines after its step are dropped before new ones are
 * written. A damaged newest checkpoint is an error unless `fallback` allows an older one.
 */
export const resumeRecipe = (recipe: Recipe, options: KitchenOptions & { readonly fallback: boolean }) =>
  Effect.gen(function*() {
    yield* checkAdapters(recipe, "recipe")
    const checkpoint = yield* newestCheckpoint({ fallback: options.fallback }).pipe(
      Effect.provide(checkpointStoreLayer(recipe, options.runDir))
    )
    const { manifest } = checkpoint
    const state = yield* decodeDurableRunState(manifest.name, manifest.resume.state)
    const compiled = compileRecipe(recipe, state.runInfo)
    const problem = mismatch(manifest, recipe, supervisedWorkflowConfig(recipe).rendererId, makeByteTokenizer().id)
    if (problem !== undefined) return yield* problem
    const ports = Layer.provideMerge(compiled.clientLayer, kitchenLayer(recipe, { ...options, resumeAfterStep: manifest.step }))
    return yield* Effect.gen(function*() {
      yield* restoreCheckpoint(checkpoint)
      yield* (yield* MetricsSink).event({ name: "resume", step: manifest.step, data: { checkpoint: manifest.name } })
      return yield* runWorkflow(compiled.workflow, {
        initialState: compiled.initialState,
        cursor: { position: manifest.resume.position, resume: "after", step: manifest.step, state }
      })
    }).pipe(Effect.provide(ports))
  })
