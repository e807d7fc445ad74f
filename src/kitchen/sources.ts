/** Where data, checkpoints, starting weights, teachers and tokenizers come from. */
import { fileURLToPath } from "node:url"
import { join } from "node:path"
import { Effect, Layer, Result } from "effect"
import { fsBlobStoreLayer } from "../adapters/blob/fs-blob-store.js"
import { s3BlobStoreLayer } from "../adapters/blob/s3-blob-store.js"
import { parseS3Uri } from "../adapters/blob/s3-uri.js"
import { datasetSourceByScheme } from "../adapters/datasets/dataset-source-by-scheme.js"
import { jsonlFileSource } from "../adapters/datasets/jsonl-file-source.js"
import { makeS3JsonlSource } from "../adapters/datasets/s3-jsonl-source.js"
import { hubBlobStoreLayer } from "../adapters/hub/hub-blob-store.js"
import { makeHubJsonlSource } from "../adapters/hub/hub-jsonl-source.js"
import { parseHubUri } from "../adapters/hub/hub-uri.js"
import { makeByteTokenizer } from "../adapters/tokenizers/byte-tokenizer.js"
import { makeHfTokenizer, TokenizerLoadError } from "../adapters/tokenizers/hf-tokenizer.js"
import { BlobStore as BlobStoreTag, BlobStoreError, DatasetSource, InvalidRequestError, StartingWeights, TeacherWeights, Tokenizer, uriScheme, type WeightsSource } from "../ports/index.js"
import { readCheckpoint } from "../stages/index.js"
import { baseModelOf, recipeModel } from "../recipes/compile-recipe.js"
import type { CheckpointRef } from "../recipes/recipe-sections.js"
import { isChatRecipe, type Recipe } from "../recipes/recipe.js"

// S3 settings come from the standard AWS sources (environment, shared config and
// credentials files); the Hub's token from HF_TOKEN and its address from HF_ENDPOINT.
const s3Connection = {}

/** Datasets from local files, s3:// and hf:// URIs. */
export const datasetSourceLayer = Layer.effect(
  DatasetSource,
  Effect.map(
    makeS3JsonlSource(s3Connection),
    (s3) => datasetSourceByScheme({ file: jsonlFileSource, s3, hf: makeHubJsonlSource() })
  )
)

/**
 * The blob store at a location `checkAdapters` has checked: a path, `file://`,
 * `s3://bucket/prefix` or `hf://user/repo[/prefix]`.
 */
const blobStoreLayerAt = (uri: string): Layer.Layer<BlobStoreTag, BlobStoreError> => {
  switch (uriScheme(uri)) {
    case "s3": {
      const location = Result.getOrThrow(parseS3Uri(uri))
      return s3BlobStoreLayer({ ...s3Connection, bucket: location.bucket, prefix: location.key })
    }
    case "hf":
      return Layer.unwrap(
        parseHubUri(uri).pipe(
          Effect.map((location) => hubBlobStoreLayer({ repo: location.repo, repoType: location.repoType, prefix: location.path })),
          Effect.mapError((error) => new BlobStoreError({ operation: "open", key: "", message: error.message, cause: error }))
        )
      )
    default:
      return fsBlobStoreLayer(uri.startsWith("file://") ? fileURLToPath(uri) : uri)
  }
}

/** The store a recipe's checkpoints go to: `<runDir>/checkpoints` by default, or `checkpoint.uri`. */
export const checkpointStoreLayer = (recipe: Recipe, runDir: string): Layer.Layer<BlobStoreTag, BlobStoreError> =>
  blobStoreLayerAt(recipe.checkpoint.uri ?? join(runDir, "checkpoints"))

/**
 * Reads a committed checkpoint by reference (`model.from`, `teacher`), with its blobs checked
 * against the manifest. A checkpoint that is not there is an error naming the recipe field.
 */
const referencedCheckpoint = (ref: CheckpointRef, field: string) =>
  Effect.gen(function*() {
    const store = yield* BlobStoreTag
    return yield* readCheckpoint(store, ref.checkpoint).pipe(
      Effect.catchTag("BlobNotFoundError", (missing) =>
        Effect.fail(new InvalidRequestError({
          operation: field,
          message: `${store.uri} holds no committed checkpoint ${JSON.stringify(ref.checkpoint)}`,
          cause: missing
        })))
    )
  }).pipe(Effect.provide(blobStoreLayerAt(ref.store)))

/**
 * The weights of a referenced checkpoint, as a sampling client or `loadState` takes them.
 * The checkpoint must have been trained with the recipe's tokenizer: token ids mean nothing
 * across tokenizers, even of the same vocabulary size.
 */
const checkpointWeights = (ref: CheckpointRef, field: string, tokenizer: Tokenizer["Service"]) =>
  Effect.flatMap(referencedCheckpoint(ref, field), (checkpoint) =>
    checkpoint.manifest.tokenizerId === tokenizer.id
      ? Effect.succeed<WeightsSource>({ source: checkpoint.state, description: `checkpoint ${ref.checkpoint} of ${ref.store}` })
      : Effect.fail(new InvalidRequestError({
        operation: field,
        message: `checkpoint ${ref.checkpoint} of ${ref.store} was trained with tokenizer ${checkpoint.manifest.tokenizerId}, this recipe's is ${tokenizer.id}`
      })))

/**
 * The weights a run starts from: the checkpoint `model.from` names, or the recipe's base
 * model, which the local backend builds from the architecture and seed.
 */
const startingWeights = (recipe: Recipe, tokenizer: Tokenizer["Service"]) =>
  isChatRecipe(recipe) && recipe.model.from !== undefined
    ? checkpointWeights(recipe.model.from, "model.from", tokenizer)
    : Effect.succeed<WeightsSource>({
      source: { ...baseModelOf(recipeModel(recipe, tokenizer.vocabSize)), seed: recipe.seed },
      description: `base model ${isChatRecipe(recipe) ? recipe.model.base : recipe.model.kind} (seed ${recipe.seed})`
    })

/** The run's reference weights and, for distillation, its teacher's. */
export const modelSourcesLayer = (recipe: Recipe, tokenizer: Tokenizer["Service"]) =>
  Layer.mergeAll(
    Layer.effect(StartingWeights, startingWeights(recipe, tokenizer)),
    recipe.kind === "distill" ? Layer.effect(TeacherWeights, checkpointWeights(recipe.teacher, "teacher", tokenizer)) : Layer.empty
  )

/**
 * The tokenizer a recipe names: the byte tokenizer, or the Hugging Face tokenizer.json at
 * `tokenizer.path` (a local path or `file://` URI; `checkAdapters` refuses others). A classify
 * recipe reads no text; it gets the byte tokenizer, whose id its checkpoints record.
 */
export const recipeTokenizer = (recipe: Recipe): Effect.Effect<Tokenizer["Service"], TokenizerLoadError> => {
  if (!isChatRecipe(recipe)) return Effect.succeed(makeByteTokenizer())
  const { kind, path } = recipe.tokenizer
  if (kind === "byte") return Effect.succeed(makeByteTokenizer())
  // decodeRecipe refuses this; a recipe built in code has not been through it.
  if (path === undefined) return Effect.fail(new TokenizerLoadError({ path: "", message: "a huggingface tokenizer needs tokenizer.path" }))
  return makeHfTokenizer(path.startsWith("file://") ? fileURLToPath(path) : path)
}

