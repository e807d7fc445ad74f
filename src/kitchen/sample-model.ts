/**
 * The model `sous sample` completes a prompt with: a Hugging Face model directory, a run
 * directory's newest checkpoint, or one checkpoint of a run, loaded into a sampling client of
 * the local backend as a run loads its weights.
 */
import { existsSync, statSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { basename, dirname, join } from "node:path"
import { Effect, type Scope } from "effect"
import { readHfEosIds } from "../adapters/hf-model/model-directory.js"
import { decodeHfArchitecture } from "../adapters/local/hf/index.js"
import { localBackendLayer } from "../adapters/local/local-backend.js"
import { makeHfTokenizer } from "../adapters/tokenizers/hf-tokenizer.js"
import { BlobStore, type SamplingClient, type StateRef, type Tokenizer, TrainingBackend } from "../ports/index.js"
import { messageOf } from "../ports/thrown-message.js"
import { recipeModel } from "../recipes/compile-recipe.js"
import { loadAnyRecipe } from "../recipes/load-recipe.js"
import { readChatTemplateFile } from "../recipes/read-chat-template.js"
import { type ChatRecipe, isChatRecipe } from "../recipes/recipe.js"
import { committedNames } from "../stages/checkpoints/checkpoint-store.js"
import { newestFirst, readCheckpoint } from "../stages/checkpoints/restore-checkpoint.js"
import { type ChatTemplate, completionRendererFor, type RendererFormat } from "../stages/rendering/index.js"
import { RunDirectoryError, runRecipeFile } from "./run-directory.js"
import { checkpointStoreLayer, recipeTokenizer } from "./sources.js"

/** What to sample: the prompt's text, whether to wrap it in the model's chat format, and how long to go on. */
export interface SampleRequest {
  readonly prompt: string
  readonly chat: boolean
  readonly maxTokens: number
}

/** A model ready to complete one prompt. */
export interface SampleModel {
  /** What was loaded, for people: the directory, or the run and its checkpoint. */
  readonly description: string
  readonly client: SamplingClient["Service"]
  readonly tokenizer: Tokenizer["Service"]
  /** The prompt's token ids: its text encoded, or rendered as a user turn with `chat`. */
  readonly promptTokens: ReadonlyArray<number>
  /** The ids that end a completion: the model's EOS and, with `chat`, the end of the assistant turn. */
  readonly stopTokens: ReadonlyArray<number>
}

const fail = (path: string, message: string, cause?: unknown) => new RunDirectoryError({ path, message, cause })

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const readJson = (path: string): Effect.Effect<Record<string, unknown>, RunDirectoryError> =>
  Effect.tryPromise({ try: () => readFile(path, "utf8"), catch: (cause) => fail(path, `cannot read ${path}: ${messageOf(cause)}`, cause) }).pipe(
    Effect.flatMap((text) =>
      Effect.try({ try: (): unknown => JSON.parse(text), catch: (cause) => fail(path, `${path} is not valid JSON: ${messageOf(cause)}`, cause) })
    ),
    Effect.filterOrFail(isObject, () => fail(path, `${path} does not hold a JSON object`))
  )

const ids = (value: unknown): ReadonlyArray<number> =>
  typeof value === "number" ? [value] : Array.isArray(value) ? value.filter((id): id is number => typeof id === "number") : []

/** The EOS ids of a Hugging Face model directory (see `readHfEosIds`), its errors as this module's. */
const hfEos = (dir: string) => readHfEosIds(dir).pipe(Effect.mapError((error) => fail(dir, error.message, error)))

// The tokenizer's own end of text, for sous's models, which have no generation config.
const tokenizerEos = (tokenizer: Tokenizer["Service"]): ReadonlyArray<number> =>
  ["<|eos|>", "<|endoftext|>", "</s>"].flatMap((name) => tokenizer.specialTokens[name] ?? [])

/** The prompt as the model reads it, and the end of the assistant turn when it is a chat turn. */
const renderPrompt = (
  request: SampleRequest,
  tokenizer: Tokenizer["Service"],
  format: RendererFormat,
  chatTemplate: ChatTemplate | undefined,
  source: string
) =>
  Effect.gen(function*() {
    if (!request.chat) {
      const tokens = yield* Effect.try({
        try: () => tokenizer.encode(request.prompt),
        catch: (cause) => fail(source, `the tokenizer of ${source} cannot encode the prompt: ${messageOf(cause)}`, cause)
      })
      return { tokens, stop: [] as ReadonlyArray<number> }
    }
    const render = yield* completionRendererFor({ format, chatTemplate })
    const prompt = yield* render([{ role: "user", content: request.prompt }], tokenizer)
    // The turn ends at the first token of its end marker, as evaluation's sampling stops.
    return { tokens: prompt.tokens, stop: prompt.stop.slice(0, 1) }
  })

const required = (dir: string, file: string, why: string) =>
  existsSync(join(dir, file)) ? Effect.void : Effect.fail(fail(join(dir, file), `${dir} has no ${file}: ${why}`))

/** A Hugging Face model directory: config.json, safetensors weights and the model's tokenizer. */
const hfDirectoryModel = (dir: string, request: SampleRequest) =>
  Effect.gen(function*() {
    yield* required(dir, "tokenizer.json", "sous sample reads the prompt with the model's own tokenizer")
    if (request.chat) yield* required(dir, "tokenizer_config.json", "--chat renders the prompt with the chat_template it holds")
    const configPath = join(dir, "config.json")
    const config = yield* readJson(configPath)
    const model = yield* decodeHfArchitecture(config, configPath).pipe(Effect.mapError((error) => fail(configPath, error.message, error)))
    const tokenizer = yield* makeHfTokenizer(join(dir, "tokenizer.json"))
    const chatTemplate = request.chat
      ? yield* readChatTemplateFile(join(dir, "tokenizer_config.json"), dir)
      : undefined
    const prompt = yield* renderPrompt(request, tokenizer, "jinja", chatTemplate, dir)
    const positions = model.family === "gpt2" ? model.positions : ids(config["max_position_embeddings"])[0]
    if (positions !== undefined && prompt.tokens.length >= positions) {
      return yield* fail(dir, `the prompt is ${prompt.tokens.length} tokens; the model at ${dir} has ${positions} positions`)
    }
    const wanted = prompt.tokens.length + Math.max(request.maxTokens, 1)
    const backend = yield* TrainingBackend
    const client = yield* backend.createSamplingClient({
      baseModel: dir,
      // The model's whole vocabulary, so every id it can pick is sampled as transformers would.
      architecture: { kind: "hf", dir, vocabSize: model.vocabSize, contextLength: positions === undefined ? wanted : Math.min(wanted, positions) },
      seed: 0
    })
    const eos = yield* hfEos(dir)
    return { description: dir, client, tokenizer, promptTokens: prompt.tokens, stopTokens: [...new Set([...eos, ...prompt.stop])] }
  })

/**
 * The weights of a checkpoint as a sampling client takes them: loaded into a training client
 * of the recipe's model (LoRA adapters onto its base), then saved for sampling, as a run's
 * sampler gets them.
 */
const checkpointClient = (recipe: ChatRecipe, tokenizer: Tokenizer["Service"], state: StateRef) =>
  Effect.gen(function*() {
    const backend = yield* TrainingBackend
    const model = recipeModel(recipe, tokenizer.vocabSize)
    // The training client (and its optimizer's memory) is freed once the weights are saved.
    const weights = yield* Effect.scoped(Effect.gen(function*() {
      const training = yield* backend.createTrainingClient({
        baseModel: model.baseModel,
        architecture: model.architecture,
        seed: recipe.seed,
        ...(model.lora === undefined ? {} : { lora: model.lora })
      })
      yield* Effect.flatMap(training.loadState(state, { optimizer: false }), (pending) => pending.result)
      return yield* Effect.flatMap(training.saveWeightsForSampler("sample"), (pending) => pending.result)
    }))
    return yield* backend.createSamplingClient(weights)
  })

/** A run's checkpoint `name` (its newest when undefined), from the store its recipe names. */
const runModel = (runDir: string, name: string | undefined, request: SampleRequest) =>
  Effect.gen(function*() {
    const loaded = yield* loadAnyRecipe(runRecipeFile(runDir), [])
    if (loaded.kind === "pipeline") {
      return yield* fail(runDir, `${runDir} holds a pipeline; sample one of its stages' directories (${runDir}/<stage>)`)
    }
    if (!isChatRecipe(loaded)) return yield* fail(runDir, `${runDir} holds a classify run, which has no text to sample`)
    const recipe = loaded
    const checkpoint = yield* Effect.gen(function*() {
      const store = yield* BlobStore
      const names = yield* committedNames(store)
      const chosen = name ?? newestFirst(names)[0]
      if (chosen === undefined) return yield* fail(runDir, `${store.uri} holds no committed checkpoint to sample from`)
      if (!names.includes(chosen)) return yield* fail(runDir, `${store.uri} holds no committed checkpoint ${JSON.stringify(chosen)}`)
      return yield* readCheckpoint(store, chosen)
    }).pipe(Effect.provide(checkpointStoreLayer(recipe, runDir)))
    const tokenizer = yield* recipeTokenizer(recipe)
    if (checkpoint.manifest.tokenizerId !== tokenizer.id) {
      return yield* fail(runDir, `checkpoint ${checkpoint.manifest.name} was trained with tokenizer ${checkpoint.manifest.tokenizerId}, the run's recipe names ${tokenizer.id}`)
    }
    const prompt = yield* renderPrompt(request, tokenizer, recipe.renderer.format, recipe.renderer.chatTemplate, runDir)
    const client = yield* checkpointClient(recipe, tokenizer, checkpoint.state)
    const eos = recipe.model.hf === undefined ? tokenizerEos(tokenizer) : yield* hfEos(recipe.model.hf)
    return {
      description: `${runDir} (checkpoint ${checkpoint.manifest.name}, step ${checkpoint.manifest.step})`,
      client,
      tokenizer,
      promptTokens: prompt.tokens,
      stopTokens: [...new Set([...eos, ...prompt.stop])]
    }
  })

const isDirectory = (path: string) => existsSync(path) && statSync(path).isDirectory()

/** The backend `sous sample` loads models with: the local one, on its default device. */
export const sampleBackendLayer = localBackendLayer

/**
 * Loads the model at `path` for sampling: a Hugging Face model directory (config.json; its
 * tokenizer.json is required, and with `chat` its tokenizer_config.json), a run directory
 * (recipe.json; its newest committed checkpoint), or a checkpoint of one
 * (`<run>/checkpoints/<name>`, which holds manifest.json). The local backend holds the
 * weights until `Scope` closes; `TrainingBackend` is the local one ({@link sampleBackendLayer}). Fails with a `RunDirectoryError` naming the file at fault.
 */
export const loadSampleModel = (path: string, request: SampleRequest): Effect.Effect<
  SampleModel,
  Effect.Error<ReturnType<typeof hfDirectoryModel>> | Effect.Error<ReturnType<typeof runModel>>,
  Scope.Scope | TrainingBackend
> => {
  if (!isDirectory(path)) return Effect.fail(fail(path, `${path} is not a directory`))
  if (existsSync(join(path, "config.json"))) return hfDirectoryModel(path, request)
  if (existsSync(runRecipeFile(path))) return runModel(path, undefined, request)
  const runDir = dirname(dirname(path))
  if (existsSync(join(path, "manifest.json")) && existsSync(runRecipeFile(runDir))) return runModel(runDir, basename(path), request)
  return Effect.fail(fail(
    path,
    `${path} is no model sous can sample: not a Hugging Face model directory (no config.json), ` +
      "a run directory (no recipe.json) or a checkpoint of a run (no manifest.json in <run>/checkpoints/<name>)"
  ))
}
