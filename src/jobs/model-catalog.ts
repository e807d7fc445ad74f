/**
 * The base models a job may name: each is the part of a recipe that says what model to
 * train and how (model, tokenizer, renderer, optimizer, backend), onto which a job puts its
 * data and hyperparameters. A server takes its own catalog (a JSON file of name -> fragment)
 * or uses the built-in one.
 */
import { Effect, Schema } from "effect"
import { readJsonFile } from "./json-file.js"

/** A recipe fragment, as a recipe file would hold it. */
export type RecipeFragment = Readonly<Record<string, unknown>>

/** Base models by name. */
export type ModelCatalog = Readonly<Record<string, RecipeFragment>>

/**
 * sous's own small transformers, trained from random weights on the local backend: a 2-layer
 * one (sft-arithmetic's) and a 1-layer one small enough for a job of a few seconds.
 */
export const builtInModels: ModelCatalog = {
  "sous/tiny-transformer": {
    model: { layers: 2, width: 64, heads: 4, contextLength: 64 },
    renderer: { format: "role-colon", trainOn: "assistant" },
    optimizer: { lr: 3e-3, schedule: "cosine", warmupSteps: 2, minLrRatio: 0.1, gradClipNorm: 1 }
  },
  "sous/micro-transformer": {
    model: { layers: 1, width: 32, heads: 4, contextLength: 64 },
    renderer: { format: "role-colon", trainOn: "assistant" },
    optimizer: { lr: 3e-3, schedule: "cosine", warmupSteps: 2, minLrRatio: 0.1, gradClipNorm: 1 },
    backend: { kind: "local", device: "wasm" }
  }
}

/** The catalog file cannot be read or is not an object of objects. */
export class ModelCatalogError extends Schema.TaggedError<ModelCatalogError>()("ModelCatalogError", {
  path: Schema.String,
  message: Schema.String
}) {}

const decodeCatalog = Schema.decodeUnknownEffect(Schema.Record(Schema.String, Schema.Record(Schema.String, Schema.Unknown)))

/** Reads a catalog file: `{"<name>": {<recipe fragment>}, ...}`. */
export const loadModelCatalog = (path: string): Effect.Effect<ModelCatalog, ModelCatalogError> =>
  Effect.gen(function*() {
    const json = yield* readJsonFile(path, (message) => new ModelCatalogError({ path, message }))
    return yield* decodeCatalog(json).pipe(
      Effect.mapError(() => new ModelCatalogError({ path, message: `${path}: expected an object of model names to recipe fragments` }))
    )
  })
