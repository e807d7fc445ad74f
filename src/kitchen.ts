/**
 * The composition root: turns a recipe's adapter settings into layers for the ports its
 * workflow needs, and runs it. With cli/, the only code that imports adapters.
 */
import { randomUUID } from "node:crypto"
import { existsSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { fileURLToPath } from "node:url"
import { join } from "node:path"
import { Effect, Layer, Result, Stream } from "effect"
import { fsBlobStoreLayer } from "./adapters/blob/fs-blob-store.js"
import { s3BlobStoreLayer } from "./adapters/blob/s3-blob-store.js"
import { parseS3Uri } from "./adapters/blob/s3-uri.js"
import { datasetSourceByScheme } from "./adapters/datasets/dataset-source-by-scheme.js"
import { jsonlFileSource } from "./adapters/datasets/jsonl-file-source.js"
import { makeS3JsonlSource } from "./adapters/datasets/s3-jsonl-source.js"
import { hubBlobStoreLayer } from "./adapters/hub/hub-blob-store.js"
import { makeHubJsonlSource } from "./adapters/hub/hub-jsonl-source.js"
import { hubPublisherLayer } from "./adapters/hub/hub-publisher.js"
import { parseHubUri } from "./adapters/hub/hub-uri.js"
import { arithmeticEnv } from "./adapters/envs/arithmetic-env.js"
import { loadEnvModule } from "./adapters/envs/load-env-module.js"
import { localBackendLayer } from "./adapters/local/local-backend.js"
import { combineSinks } from "./adapters/metrics/combine-sinks.js"
import { makeJsonlMetricsSink } from "./adapters/metrics/jsonl-metrics-sink.js"
import { makeByteTokenizer } from "./adapters/tokenizers/byte-tokenizer.js"
import { makeHfTokenizer, TokenizerLoadError } from "./adapters/tokenizers/hf-tokenizer.js"
import {
  BlobStore as BlobStoreTag,
  BlobStoreError,
  type CheckpointManifest,
  DatasetSource,
  type Datum,
  InvalidRequestError,
  MetricsSink,
  Tokenizer,
  toInts,
  TrainingClient,
  uriScheme
} from "./ports/index.js"
import {
  ChatRow,
  chatRendererFor,
  checkEnvRows,
  type EnvFactory,
  Environment,
  readEnvRows,
  readClassifyData,
  committedNames,
  markTrained,
  decodeDurableRunState,
  newestCheckpoint,
  preferenceDatum,
  preferenceRendererFor,
  PreferenceRow,
  readCheckpoint,
  type RenderedChat,
  restoreCheckpoint,
  StartingWeights,
  TeacherWeights,
  type WeightsSource,
  retainAndIndex
} from "./stages/index.js"
import {
  baseModelOf,
  compileRecipe,
  preferenceWorkflowConfig,
  recipeModel,
  recipeRendererId,
  supervisedWorkflowConfig
} from "./recipes/compile-recipe.js"
import type { PreferenceRecipe } from "./recipes/preference-recipe.js"
import type { CheckpointRef, SupervisedRecipe } from "./recipes/supervised-recipe.js"
import { RecipeError, type RecipeProblem } from "./recipes/recipe-error.js"
import { recipeHash } from "./recipes/recipe-hash.js"
import { isChatRecipe, type Recipe } from "./recipes/recipe.js"
import type { RlRecipe } from "./recipes/rl-recipe.js"
import { runWorkflow } from "./workflows/index.js"

/** Where a run writes and who else listens to its metrics. */
export interface KitchenOptions {
  /** The run directory: metrics, events, summary and (by default) checkpoints. */
  readonly runDir: string
  /** Extra metrics sinks (a progress display, a tracking service). */
  readonly sinks?: ReadonlyArray<MetricsSink["Service"]>
  /** A resumed run continues after this checkpoint: what the files hold after it is dropped. */
  readonly resumeAfter?: { readonly step: number; readonly checkpoint?: string }
  /**
   * The environment of an rl recipe written in code, whose `env` is `{ provided: name }`:
   * the factory itself, passed instead of named by a module path.
   */
  readonly env?: EnvFactory
}

/**
 * The environment of an rl recipe: a built-in by name, the export of a module (imported
 * here, so a missing file, a missing export or one that is not a function is refused before
 * a run), or the factory passed in code for `env: { provided: name }`.
 */
const recipeEnvironment = (recipe: RlRecipe, given: EnvFactory | undefined): Effect.Effect<Environment["Service"], RecipeProblem> => {
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
const rlEnvironment = (recipe: RlRecipe, given: EnvFactory | undefined) =>
  Effect.mapError(recipeEnvironment(recipe, given), (problem) => new RecipeError({ source: "recipe", problems: [problem] }))

/** Why this kitchen cannot use `location` for data or checkpoints, or undefined when it can. */
const locationProblem = (location: string): Effect.Effect<string | undefined> => {
  switch (uriScheme(location) ?? "file") {
    case "file":
      return Effect.succeed(undefined)
    case "s3": {
      const parsed = parseS3Uri(location)
      return Effect.succeed(Result.isFailure(parsed) ? parsed.failure : undefined)
    }
    case "hf":
      return parseHubUri(location).pipe(Effect.match({ onFailure: (error) => error.message, onSuccess: () => undefined }))
    default:
      return Effect.succeed(`sous reads and writes local paths, file://, s3:// and hf:// URIs, got ${JSON.stringify(location)}`)
  }
}

/** Why `repo` cannot take a published model: a model repository, `hf://user/name`, with no path. */
const publishRepoProblem = (repo: string): Effect.Effect<string | undefined> =>
  uriScheme(repo) !== "hf"
    ? Effect.succeed(`publishing needs an hf://user/name repository, got ${JSON.stringify(repo)}`)
    : parseHubUri(repo).pipe(Effect.match({
      onFailure: (error) => error.message,
      onSuccess: (location) =>
        location.repoType !== "model" || location.path !== ""
          ? `a model is published to a model repository, hf://user/name, without a path; got ${JSON.stringify(repo)}`
          : undefined
    }))

/**
 * Checks that this kitchen has an adapter for every location the recipe names and that
 * each is well formed, so a recipe that cannot run is refused before anything is written.
 * `source` names the recipe file.
 */
export const checkAdapters = (
  recipe: Recipe,
  source: string,
  given: Pick<KitchenOptions, "env"> = {}
): Effect.Effect<void, RecipeError> =>
  Effect.gen(function*() {
    const locations: ReadonlyArray<readonly [string, string | undefined]> = [
      ["data.train", recipe.data.train],
      ["data.eval", recipe.data.eval],
      ["checkpoint.uri", recipe.checkpoint.uri],
      ["model.from.store", isChatRecipe(recipe) ? recipe.model.from?.store : undefined],
      ["teacher.store", recipe.kind === "distill" ? recipe.teacher.store : undefined]
    ]
    const problems: Array<{ path: string; message: string }> = []
    for (const [path, location] of locations) {
      const problem = location === undefined ? undefined : yield* locationProblem(location)
      if (problem !== undefined) problems.push({ path, message: problem })
    }
    const tokenizerPath = isChatRecipe(recipe) ? recipe.tokenizer.path : undefined
    if (tokenizerPath !== undefined && (uriScheme(tokenizerPath) ?? "file") !== "file") {
      problems.push({ path: "tokenizer.path", message: `sous reads tokenizer.json from a local path or file:// URI, got ${JSON.stringify(tokenizerPath)}` })
    } else if (tokenizerPath !== undefined) {
      // Loaded here too, so a missing or broken tokenizer.json is refused before a run
      // directory is written, and by validate and plan.
      const loaded = yield* Effect.result(recipeTokenizer(recipe))
      if (loaded._tag === "Failure") problems.push({ path: "tokenizer.path", message: loaded.failure.message })
    }
    const repo = isChatRecipe(recipe) ? recipe.publish?.repo : undefined
    if (repo !== undefined) {
      const problem = yield* publishRepoProblem(repo)
      if (problem !== undefined) problems.push({ path: "publish.repo", message: problem })
    }
    if (recipe.kind === "rl") {
      const environment = yield* Effect.result(recipeEnvironment(recipe, given.env))
      if (environment._tag === "Failure") problems.push(environment.failure)
    }
    if (problems.length > 0) return yield* new RecipeError({ source, problems })
  })

// S3 settings come from the standard AWS sources (environment, shared config and
// credentials files); the Hub's token from HF_TOKEN and its address from HF_ENDPOINT.
const s3Connection = {}

/** Datasets from local files, s3:// and hf:// URIs. */
const datasetSourceLayer = Layer.effect(
  DatasetSource,
  Effect.map(
    makeS3JsonlSource(s3Connection),
    (s3) => datasetSourceByScheme({ file: jsonlFileSource, s3, hf: makeHubJsonlSource() })
  )
)

/**
 * Reads every dataset row of the recipe through its schema, failing on the first bad row
 * (with its file and line). `sous run --overwrite` calls it before removing the previous run,
 * so bad input never costs a committed checkpoint.
 */
export const checkData = (recipe: Recipe) =>
  Effect.gen(function*() {
    const source = yield* DatasetSource
    for (const uri of [recipe.data.train, ...(recipe.data.eval === undefined ? [] : [recipe.data.eval])]) {
      // A classify row must also fit the recipe's input shape and classes.
      if (recipe.kind === "classify") yield* readClassifyData(uri, recipe.data)
      else if (recipe.kind === "preference") yield* Stream.runDrain(source.rows(uri, PreferenceRow))
      // An rl row is whatever its environment takes: the factory makes an episode of each.
      else if (recipe.kind === "rl") yield* checkEnvRows((yield* rlEnvironment(recipe, undefined)).make, yield* readEnvRows(uri))
      else yield* Stream.runDrain(source.rows(uri, ChatRow))
    }
  }).pipe(Effect.provide(datasetSourceLayer))

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
          Effect.mapError((error) => new BlobStoreError({ operation: "open", key: "", message: error.message }))
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
      Effect.catchTag("BlobNotFoundError", () =>
        Effect.fail(new InvalidRequestError({
          operation: field,
          message: `${store.uri} holds no committed checkpoint ${JSON.stringify(ref.checkpoint)}`
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
const modelSourcesLayer = (recipe: Recipe, tokenizer: Tokenizer["Service"]) =>
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

/**
 * Layers for every port a supervised recipe's workflow needs, built from its settings.
 * `tokenizer` is the recipe's ({@link recipeTokenizer}), built once by the caller: the
 * local backend decodes samples with it, and resume compares its id with the checkpoint's.
 */
export const kitchenLayer = (recipe: Recipe, options: KitchenOptions, tokenizer: Tokenizer["Service"]) => {
  const jsonlOptions = options.resumeAfter === undefined ? {} : { resumeAfter: options.resumeAfter }
  return Layer.mergeAll(
    localBackendLayer({ device: recipe.backend.device, decode: tokenizer.decode }),
    Layer.succeed(Tokenizer, tokenizer),
    modelSourcesLayer(recipe, tokenizer),
    // Only rl recipes have an environment; the other kinds' workflows never read one.
    recipe.kind === "rl" ? Layer.effect(Environment, rlEnvironment(recipe, options.env)) : Layer.empty,
    datasetSourceLayer,
    checkpointStoreLayer(recipe, options.runDir),
    hubPublisherLayer(),
    Layer.effect(
      MetricsSink,
      Effect.map(
        makeJsonlMetricsSink(options.runDir, jsonlOptions),
        (jsonl) => combineSinks([jsonl, ...(options.sinks ?? [])])
      )
    )
  )
}

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

/**
 * Compiles and runs a recipe to the end: the library entry point behind `sous run`.
 * Resolves with the runner's result (final step and state).
 */
export const runRecipe = (recipe: Recipe, options: KitchenOptions) =>
  Effect.gen(function*() {
    yield* checkAdapters(recipe, "recipe", options)
    const compiled = compileRecipe(recipe, { runId: randomUUID(), recipeHash: recipeHash(recipe), startedAt: Date.now() })
    const tokenizer = yield* recipeTokenizer(recipe)
    const ports = Layer.provideMerge(compiled.clientLayer, kitchenLayer(recipe, options, tokenizer))
    return yield* Effect.gen(function*() {
      if (isChatRecipe(recipe) && recipe.model.from !== undefined) yield* loadStartingWeights
      return yield* runWorkflow(compiled.workflow, { initialState: compiled.initialState })
    }).pipe(Effect.provide(ports))
  })

/** Loads the checkpoint `model.from` names into the new client: its weights, a fresh optimizer. */
const loadStartingWeights = Effect.gen(function*() {
  const start = yield* StartingWeights
  const client = yield* TrainingClient
  if (!("_tag" in start.source)) return
  yield* Effect.flatMap(client.loadState(start.source, { optimizer: false }), (pending) => pending.result)
  yield* Effect.logInfo(`starting from ${start.description}`)
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
 * Whether a run finished: its final checkpoint is committed (`newest` names the newest
 * committed one), its summary written and its model published if the recipe asks for that.
 * Resuming it would redo the end of the run.
 */
const finished = (recipe: Recipe, runDir: string, newest: string) =>
  Effect.promise(async () => {
    if (newest !== "final" || !existsSync(join(runDir, "summary.json"))) return false
    if (!isChatRecipe(recipe) || recipe.publish === undefined) return true
    const events = await readFile(join(runDir, "events.jsonl"), "utf8").catch(() => "")
    return events.includes("\"name\":\"publish\"")
  })

/** Whether the run in `runDir` finished (see `finished`): a pipeline skips such a stage. */
export const runFinished = (recipe: Recipe, runDir: string) =>
  Effect.gen(function*() {
    const names = yield* committedNames(yield* BlobStoreTag)
    return names.includes("final") && (yield* finished(recipe, runDir, "final"))
  }).pipe(Effect.provide(checkpointStoreLayer(recipe, runDir)))

/**
 * Continues a run from the newest committed checkpoint in its store, so that the result
 * equals an uninterrupted run: the weights and optimizer state are restored, the data cursor
 * and summary come back from the manifest, the data stages run again, training goes on after
 * the checkpoint stage, and what the metrics files hold after the checkpoint is dropped
 * before new lines are written. Retention and the index are brought up to date first, for a
 * run that died right after a commit. A damaged newest checkpoint is an error unless
 * `fallback` allows an older one. A run that died before its first checkpoint starts again
 * from step 0, which gives the same result; a finished run is refused.
 */
export const resumeRecipe = (recipe: Recipe, options: KitchenOptions & { readonly fallback: boolean }) =>
  Effect.gen(function*() {
    yield* checkAdapters(recipe, "recipe", options)
    const checkpoint = yield* Effect.gen(function*() {
      const store = yield* BlobStoreTag
      const names = yield* committedNames(store)
      if (names.length === 0) {
        yield* Effect.logWarning(`${store.uri} holds no committed checkpoint yet: the run starts again from step 0`)
        return undefined
      }
      const verified = yield* newestCheckpoint({ fallback: options.fallback })
      const retention = { keepLast: recipe.checkpoint.keepLast, keepEvery: recipe.checkpoint.keepEvery }
      yield* retainAndIndex(store, verified.manifest.name, retention)
      return verified
    }).pipe(Effect.provide(checkpointStoreLayer(recipe, options.runDir)))
    // Step -1: every metrics and events line of the dead run goes.
    if (checkpoint === undefined) return yield* runRecipe(recipe, { ...options, resumeAfter: { step: -1 } })
    const { manifest } = checkpoint
    if (yield* finished(recipe, options.runDir, manifest.name)) {
      return yield* new InvalidRequestError({
        operation: "resume",
        message: `the run in ${options.runDir} finished at step ${manifest.step} (checkpoint final and summary.json are there): there is nothing to resume`
      })
    }
    const state = yield* decodeDurableRunState(manifest.name, manifest.resume.state)
    const compiled = compileRecipe(recipe, state.runInfo)
    const tokenizer = yield* recipeTokenizer(recipe)
    const problem = mismatch(manifest, recipe, recipeRendererId(recipe), tokenizer.id)
    if (problem !== undefined) return yield* problem
    const resumeAfter = { step: manifest.step, checkpoint: manifest.name }
    const ports = Layer.provideMerge(compiled.clientLayer, kitchenLayer(recipe, { ...options, resumeAfter }, tokenizer))
    return yield* Effect.gen(function*() {
      yield* restoreCheckpoint(checkpoint)
      yield* (yield* MetricsSink).event({ name: "resume", step: manifest.step, data: { checkpoint: manifest.name } })
      return yield* runWorkflow(compiled.workflow, {
        initialState: compiled.initialState,
        cursor: { position: manifest.resume.position, resume: "after", step: manifest.step, state }
      })
    }).pipe(Effect.provide(ports))
  })
