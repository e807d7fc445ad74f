import { Effect, Layer } from "effect"
import {
  type BaseModelSource,
  type ClassifierArchitecture,
  type LanguageModelArchitecture,
  type ModelArchitecture,
  Tokenizer,
  TrainingBackend,
  TrainingClient
} from "../ports/index.js"
import { emptySummary, rendererId, type RunInfo, RunKeys, type TrainStepConfig } from "../stages/index.js"
import {
  classifyWorkflow,
  type ClassifyWorkflowConfig,
  supervisedWorkflow,
  type SupervisedWorkflowConfig,
  type TrainingSchedule
} from "../workflows/index.js"
import type { ClassifyRecipe } from "./classify-recipe.js"
import type { DistillRecipe } from "./distill-recipe.js"
import { distillWorkflow, type DistillWorkflowConfig } from "../workflows/distill.js"
import type { PreferenceRecipe } from "./preference-recipe.js"
import { preferenceWorkflow, type PreferenceWorkflowConfig } from "../workflows/preference.js"
import type { RlRecipe } from "./rl-recipe.js"
import { rlWorkflow, type RlWorkflowConfig } from "../workflows/rl.js"
import { type ChatRecipe, isChatRecipe, type Recipe } from "./recipe.js"
import { resolvedRecipeJson } from "./recipe-hash.js"
import type { SupervisedRecipe } from "./supervised-recipe.js"

/** The workflow of each recipe kind. */
export type RecipeWorkflow =
  | ReturnType<typeof supervisedWorkflow>
  | ReturnType<typeof classifyWorkflow>
  | ReturnType<typeof distillWorkflow>
  | ReturnType<typeof preferenceWorkflow>
  | ReturnType<typeof rlWorkflow>

/** A recipe turned into something runnable: the workflow, its starting state and its client. */
export interface CompiledRecipe {
  readonly workflow: RecipeWorkflow
  /** Values of the workflow's initial keys, by key name. */
  readonly initialState: Readonly<Record<string, unknown>>
  /** Creates the training client the stages talk to, from the backend and tokenizer. */
  readonly clientLayer: Layer.Layer<TrainingClient, Effect.Error<ReturnType<TrainingBackend["Service"]["createTrainingClient"]>>, TrainingBackend | Tokenizer>
  /** Human-readable step, eval and checkpoint schedule, for `sous plan`. */
  readonly schedule: ReadonlyArray<string>
}

/** What each kind's evaluation measures, for `sous plan`. */
const evalMeasures: Record<Recipe["kind"], string> = {
  supervised: "held-out NLL and bits per byte",
  classify: "held-out accuracy and NLL",
  preference: "held-out preference accuracy and margin against the reference",
  rl: "held-out reward of greedy replies, scored by the environment",
  distill: "held-out reverse KL of the student to the teacher"
}

const describeSchedule = (recipe: Recipe): Array<string> => {
  const { steps, epochs, batchSize } = recipe.training
  const length = steps === undefined
    ? `${epochs} epoch(s) of the training data in batches of ${batchSize} (step count fixed when the data is loaded)`
    : `${steps} optimizer steps in batches of ${batchSize}`
  const measure = evalMeasures[recipe.kind]
  const evals = recipe.eval.every > 0 ? `before training, every ${recipe.eval.every} steps and at the end` : "before and after training"
  const checkpoints = recipe.checkpoint.every > 0 ? `every ${recipe.checkpoint.every} steps and a final one` : "a final one only"
  const { lr, schedule, warmupSteps, minLrRatio } = recipe.optimizer
  return [
    `steps: ${length}`,
    `lr: ${schedule} from ${lr}, ${warmupSteps} warmup steps${schedule === "constant" ? "" : `, down to ${Number((lr * minLrRatio).toPrecision(3))}`}`,
    `eval: ${measure} ${evals}`,
    `checkpoints: ${checkpoints}, on ${recipe.checkpoint.uri ?? "<out>/checkpoints"}`
  ]
}

/** AdamW and the learning-rate schedule, as every recipe kind states them. */
const trainStepConfig = (recipe: Recipe): TrainStepConfig => ({
  adam: {
    beta1: recipe.optimizer.beta1,
    beta2: recipe.optimizer.beta2,
    eps: recipe.optimizer.eps,
    weight_decay: recipe.optimizer.weightDecay,
    grad_clip_norm: recipe.optimizer.gradClipNorm
  },
  schedule: {
    kind: recipe.optimizer.schedule,
    baseLr: recipe.optimizer.lr,
    warmupSteps: recipe.optimizer.warmupSteps,
    minLrRatio: recipe.optimizer.minLrRatio
  }
})

/** The renderer id a recipe's checkpoints record (resume refuses a checkpoint with another). */
export const recipeRendererId = (recipe: Recipe): string =>
  isChatRecipe(recipe) ? rendererId(recipe.renderer.format, recipe.renderer.trainOn) : "classify"

/** How any recipe steps, evaluates and checkpoints. */
export const trainingSchedule = (recipe: Recipe): TrainingSchedule => ({
  batch: {
    batchSize: recipe.training.batchSize,
    seed: recipe.seed,
    shuffle: recipe.data.shuffle,
    groupByLength: "groupByLength" in recipe.data ? recipe.data.groupByLength : undefined
  },
  optimizer: trainStepConfig(recipe),
  evalEvery: recipe.eval.every,
  checkpointEvery: recipe.checkpoint.every,
  retention: { keepLast: recipe.checkpoint.keepLast, keepEvery: recipe.checkpoint.keepEvery },
  rendererId: recipeRendererId(recipe),
  seed: recipe.seed
})

/** The training length a recipe asks for: `steps`, or else `epochs` over the data. */
export const runLength = (recipe: Recipe) =>
  recipe.training.steps === undefined ? { epochs: recipe.training.epochs } : { steps: recipe.training.steps }

/** Where a recipe's data comes from and how the held-out part is chosen. */
const dataSource = (recipe: Recipe) => ({
  train: recipe.data.train,
  ...(recipe.data.eval === undefined ? {} : { eval: recipe.data.eval }),
  evalFraction: recipe.data.evalFraction,
  seed: recipe.seed
})

/** A chat recipe's renderer: its format and, for `jinja`, the model's chat template. */
const rendererFormat = (recipe: ChatRecipe) => ({
  format: recipe.renderer.format,
  ...(recipe.renderer.chatTemplate === undefined ? {} : { chatTemplate: recipe.renderer.chatTemplate })
})

/** Publishing after the final checkpoint, when the recipe asks for it. */
const publishing = (recipe: ChatRecipe) =>
  recipe.publish && {
    repo: recipe.publish.repo,
    name: recipe.name,
    baseModel: recipe.model.base,
    recipeJson: resolvedRecipeJson(recipe)
  }

/**
 * The stage settings a supervised recipe asks for. `compileRecipe` builds its workflow from
 * them; a benchmark or a custom workflow can reuse them to run the very same stages.
 */
export const supervisedWorkflowConfig = (recipe: SupervisedRecipe): SupervisedWorkflowConfig => ({
  ...trainingSchedule(recipe),
  data: dataSource(recipe),
  render: {
    ...rendererFormat(recipe),
    trainOn: recipe.renderer.trainOn,
    contextLength: recipe.model.contextLength,
    batchSize: recipe.training.batchSize,
    ...runLength(recipe)
  },
  evalBatchSize: recipe.eval.batchSize,
  publish: publishing(recipe)
})

/** The stage settings a classify recipe asks for. */
export const classifyWorkflowConfig = (recipe: ClassifyRecipe): ClassifyWorkflowConfig => ({
  ...trainingSchedule(recipe),
  data: {
    ...dataSource(recipe),
    inputShape: recipe.data.inputShape,
    classes: recipe.data.classes,
    batchSize: recipe.training.batchSize,
    ...runLength(recipe)
  },
  evalBatchSize: recipe.eval.batchSize
})

/** The classifier a classify recipe asks for: its model section over the data's shape and classes. */
export const classifierArchitecture = (recipe: ClassifyRecipe): ClassifierArchitecture => {
  const { inputShape, classes } = recipe.data
  const model = recipe.model
  if (model.kind === "mlp") return { kind: "mlp", inputShape, hidden: model.hidden, classes }
  // decodeRecipe refuses a cnn whose inputShape is not [height, width, channels].
  const [height = 1, width = 1, channels = 1] = inputShape
  return { kind: "cnn", inputShape: [height, width, channels], filters: model.filters, kernelSize: model.kernelSize, hidden: model.hidden, classes }
}

/**
 * The model a chat recipe asks for, over a tokenizer of `vocabSize` ids: the Hugging Face
 * model of `model.hf`, or sous's transformer of the recipe's shape.
 */
export const recipeArchitecture = (recipe: ChatRecipe, vocabSize: number): LanguageModelArchitecture =>
  recipe.model.hf !== undefined
    ? { kind: "hf", dir: recipe.model.hf, vocabSize, contextLength: recipe.model.contextLength }
    : {
      kind: "transformer",
      vocabSize,
      contextLength: recipe.model.contextLength,
      width: recipe.model.width,
      layers: recipe.model.layers,
      heads: recipe.model.heads
    }

/** The model a recipe trains, as its client is created: base name, architecture and LoRA settings. */
export interface RecipeModel {
  readonly baseModel: string
  readonly architecture: ModelArchitecture
  readonly lora?: NonNullable<SupervisedRecipe["model"]["lora"]>
}

/** The base model under a recipe's model, without its LoRA settings (what a reference samples). */
export const baseModelOf = (model: RecipeModel): BaseModelSource => ({ baseModel: model.baseModel, architecture: model.architecture })

/** The model a recipe's client is created for. */
export const recipeModel = (recipe: Recipe, vocabSize: number): RecipeModel =>
  recipe.kind === "classify"
    ? { baseModel: recipe.model.kind, architecture: classifierArchitecture(recipe) }
    : {
      // A Hugging Face model's name is its directory: what a model card and checkpoints should name.
      baseModel: recipe.model.hf ?? recipe.model.base,
      architecture: recipeArchitecture(recipe, vocabSize),
      ...(recipe.model.lora === undefined ? {} : { lora: recipe.model.lora })
    }

/** What a run adds to the recipe's schedule (see {@link compileRecipe}). */
export interface CompileOptions {
  /** See `TrainingSchedule.checkpointAsked`. */
  readonly checkpointAsked?: (() => boolean) | undefined
}

/** The workflow of a recipe's kind, built from its settings. */
const recipeWorkflow = (recipe: Recipe, options: CompileOptions): RecipeWorkflow => {
  const asked = options.checkpointAsked === undefined ? {} : { checkpointAsked: options.checkpointAsked }
  switch (recipe.kind) {
    case "supervised":
      return supervisedWorkflow({ ...supervisedWorkflowConfig(recipe), ...asked })
    case "classify":
      return classifyWorkflow({ ...classifyWorkflowConfig(recipe), ...asked })
    case "preference":
      return preferenceWorkflow({ ...preferenceWorkflowConfig(recipe), ...asked })
    case "distill":
      return distillWorkflow({ ...distillWorkflowConfig(recipe), ...asked })
    case "rl":
      return rlWorkflow({ ...rlWorkflowConfig(recipe), ...asked })
  }
}

/** Compiles a recipe into the workflow of its kind; nothing runs until the workflow is run. */
export const compileRecipe = (recipe: Recipe, runInfo: RunInfo, options: CompileOptions = {}): CompiledRecipe => {
  const workflow = recipeWorkflow(recipe, options)
  const clientLayer = Layer.effect(
    TrainingClient,
    Effect.gen(function*() {
      const backend = yield* TrainingBackend
      const tokenizer = yield* Tokenizer
      return yield* backend.createTrainingClient({ ...recipeModel(recipe, tokenizer.vocabSize), seed: recipe.seed })
    })
  )
  return {
    workflow,
    initialState: {
      [RunKeys.runInfo.name]: runInfo,
      [RunKeys.dataCursor.name]: { epoch: 0, position: 0 },
      [RunKeys.summary.name]: emptySummary,
      [RunKeys.lastCheckpoint.name]: null,
      [RunKeys.expectedDataDigest.name]: null
    },
    clientLayer,
    schedule: describeSchedule(recipe)
  }
}

/** The stage settings a preference (DPO) recipe asks for. */
export const preferenceWorkflowConfig = (recipe: PreferenceRecipe): PreferenceWorkflowConfig => ({
  ...trainingSchedule(recipe),
  data: dataSource(recipe),
  render: {
    ...rendererFormat(recipe),
    contextLength: recipe.model.contextLength,
    batchSize: recipe.training.batchSize,
    ...runLength(recipe)
  },
  beta: recipe.preference.beta,
  evalBatchSize: recipe.eval.batchSize,
  publish: publishing(recipe)
})

/** The stage settings a distill recipe asks for. */
export const distillWorkflowConfig = (recipe: DistillRecipe): DistillWorkflowConfig => ({
  ...trainingSchedule(recipe),
  data: dataSource(recipe),
  prompts: {
    ...rendererFormat(recipe),
    contextLength: recipe.model.contextLength,
    batchSize: recipe.training.batchSize,
    ...runLength(recipe)
  },
  distill: recipe.distill,
  publish: publishing(recipe)
})

/** The stage settings an rl recipe asks for. */
export const rlWorkflowConfig = (recipe: RlRecipe): RlWorkflowConfig => {
  const renderer = rendererFormat(recipe)
  const { groupSize, maxTokens, maxTurns, temperature, klCoef, maxStaleness, loss } = recipe.rl
  return {
    ...trainingSchedule(recipe),
    data: {
      ...dataSource(recipe),
      batchSize: recipe.training.batchSize,
      ...runLength(recipe)
    },
    rollouts: {
      ...renderer,
      groupSize,
      maxTokens,
      maxTurns,
      temperature,
      klCoef,
      maxStaleness,
      seed: recipe.seed,
      contextLength: recipe.model.contextLength
    },
    loss,
    evaluate: {
      ...renderer,
      prompts: recipe.eval.batchSize,
      maxTokens,
      maxTurns,
      contextLength: recipe.model.contextLength,
      seed: recipe.seed
    },
    publish: publishing(recipe)
  }
}
