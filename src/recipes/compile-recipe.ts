import { resolvedRecipeJson } from "./recipe-hash.js"
import { Effect, Layer } from "effect"
import { Tokenizer, TrainingBackend, TrainingClient, type TransformerArchitecture } from "../ports/index.js"
import { emptySummary, rendererId, type RunInfo, RunKeys } from "../stages/index.js"
import { supervisedWorkflow, type SupervisedWorkflowConfig } from "../workflows/index.js"
import type { Recipe } from "./supervised-recipe.js"

/** A recipe turned into something runnable: the workflow, its starting state and its client. */
export interface CompiledRecipe {
  readonly workflow: ReturnType<typeof supervisedWorkflow>
  /** Values of the workflow's initial keys, by key name. */
  readonly initialState: Readonly<Record<string, unknown>>
  /** Creates the training client the stages talk to, from the backend and tokenizer. */
  readonly clientLayer: Layer.Layer<TrainingClient, Effect.Error<ReturnType<TrainingBackend["Service"]["createTrainingClient"]>>, TrainingBackend | Tokenizer>
  /** Human-readable step, eval and checkpoint schedule, for `sous plan`. */
  readonly schedule: ReadonlyArray<string>
}

const describeSchedule = (recipe: Recipe): Array<string> => {
  const { steps, epochs, batchSize } = recipe.training
  const length = steps === undefined
    ? `${epochs} epoch(s) of the training data in batches of ${batchSize} (step count fixed when the data is loaded)`
    : `${steps} optimizer steps in batches of ${batchSize}`
  const evals = recipe.eval.every > 0 ? `before training, every ${recipe.eval.every} steps and at the end` : "before and after training"
  const checkpoints = recipe.checkpoint.every > 0 ? `every ${recipe.checkpoint.every} steps and a final one` : "a final one only"
  const { lr, schedule, warmupSteps, minLrRatio } = recipe.optimizer
  return [
    `steps: ${length}`,
    `lr: ${schedule} from ${lr}, ${warmupSteps} warmup steps${schedule === "constant" ? "" : `, down to ${Number((lr * minLrRatio).toPrecision(3))}`}`,
    `eval: held-out NLL ${evals}`,
    `checkpoints: ${checkpoints}, on ${recipe.checkpoint.uri ?? "<out>/checkpoints"}`
  ]
}

/**
 * The stage settings a supervised recipe asks for. `compileRecipe` builds its workflow from
 * them; a benchmark or a custom workflow can reuse them to run the very same stages.
 */
export const supervisedWorkflowConfig = (recipe: Recipe): SupervisedWorkflowConfig => {
  const renderer = rendererId(recipe.renderer.format, recipe.renderer.trainOn)
  return {
    data: {
      train: recipe.data.train,
      ...(recipe.data.eval === undefined ? {} : { eval: recipe.data.eval }),
      evalFraction: recipe.data.evalFraction,
      seed: recipe.seed
    },
    render: {
      format: recipe.renderer.format,
      ...(recipe.renderer.chatTemplate === undefined ? {} : { chatTemplate: recipe.renderer.chatTemplate }),
      trainOn: recipe.renderer.trainOn,
      contextLength: recipe.model.contextLength,
      batchSize: recipe.training.batchSize,
      ...(recipe.training.steps === undefined ? { epochs: recipe.training.epochs } : { steps: recipe.training.steps })
    },
    batch: { batchSize: recipe.training.batchSize, seed: recipe.seed, shuffle: recipe.data.shuffle },
    optimizer: {
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
    },
    evalBatchSize: recipe.eval.batchSize,
    evalEvery: recipe.eval.every,
    checkpointEvery: recipe.checkpoint.every,
    retention: { keepLast: recipe.checkpoint.keepLast, keepEvery: recipe.checkpoint.keepEvery },
    publish: recipe.publish && {
      repo: recipe.publish.repo,
      name: recipe.name,
      baseModel: recipe.model.base,
      recipeJson: resolvedRecipeJson(recipe)
    },
    rendererId: renderer,
    seed: recipe.seed
  }
}

/** The model a recipe asks for, over a tokenizer of `vocabSize` ids. */
export const recipeArchitecture = (recipe: Recipe, vocabSize: number): TransformerArchitecture => ({
  kind: "transformer",
  vocabSize,
  contextLength: recipe.model.contextLength,
  width: recipe.model.width,
  layers: recipe.model.layers,
  heads: recipe.model.heads
})

/** Compiles a supervised recipe into its workflow; nothing runs until the workflow is run. */
export const compileRecipe = (recipe: Recipe, runInfo: RunInfo): CompiledRecipe => {
  const workflow = supervisedWorkflow(supervisedWorkflowConfig(recipe))
  const clientLayer = Layer.effect(
    TrainingClient,
    Effect.gen(function*() {
      const backend = yield* TrainingBackend
      const tokenizer = yield* Tokenizer
      return yield* backend.createTrainingClient({
        baseModel: recipe.model.base,
        architecture: recipeArchitecture(recipe, tokenizer.vocabSize),
        seed: recipe.seed,
        ...(recipe.model.lora === undefined ? {} : { lora: recipe.model.lora })
      })
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
