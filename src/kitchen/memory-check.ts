/**
 * Whether a run of a recipe fits in memory, worked out from the recipe alone before anything
 * is built: sizes no machine holds (`training.batchSize: 1e12`, `model.width: 1048576`) are
 * refused with the field and the bytes they would need, instead of failing mid-run with
 * "Invalid array length" or running out of memory.
 */
import { hfArchitectureOf } from "../adapters/local/hf/hf-model.js"
import { activationsPerRow, estimateTrainingMemory } from "../adapters/local/memory-estimate.js"
import type { ModelArchitecture } from "../ports/index.js"
import { recipeModel } from "../recipes/compile-recipe.js"
import type { RecipeProblem } from "../recipes/recipe-error.js"
import { isChatRecipe, type Recipe } from "../recipes/recipe.js"

const bytesPerFloat = 4
/** A batch row's token ids, targets and weights, at the least. */
const bytesPerBatchToken = 3 * bytesPerFloat

/** What one run of a recipe holds in memory at the least, in bytes, by what it is for. */
export interface RunMemory {
  /** The model's weights, gradients and AdamW moments (0 where a remote service holds the model). */
  readonly model: number
  readonly parameters: number
  /** One training step: the batch's activations kept for the backward pass, or its rows on the wire. */
  readonly trainStep: number
  /** One evaluation batch's forward pass. */
  readonly evalStep: number
}

/**
 * The memory a run of `recipe` needs at the least, over a tokenizer of `vocabSize` ids: a
 * pure estimate from its architecture and batch sizes, meant to refuse what cannot fit, not
 * to promise that the rest does. The local backend holds the model and its activations; a
 * remote one holds them on its side, and this process the batches it sends.
 */
export const runMemory = (recipe: Recipe, vocabSize: number): RunMemory => {
  const model = recipeModel(recipe, vocabSize)
  const tokens = isChatRecipe(recipe) ? recipe.model.contextLength + 1 : 1
  if (recipe.backend.kind !== "local") {
    return {
      model: 0,
      parameters: 0,
      trainStep: recipe.training.batchSize * tokens * bytesPerBatchToken,
      evalStep: recipe.eval.batchSize * tokens * bytesPerBatchToken
    }
  }
  const training = estimateTrainingMemory(model.architecture, model.lora)
  const perRow = activationsPerRow(model.architecture) * bytesPerFloat
  return {
    model: training.bytes,
    parameters: training.parameters,
    trainStep: recipe.training.batchSize * perRow,
    // Without gradients, the forward pass frees each layer's tensors once the next has them.
    evalStep: recipe.eval.batchSize * perRow / layersOf(model.architecture)
  }
}

/** Layers of a model (a classifier counts as one): an evaluation pass holds one layer's activations at a time. */
const layersOf = (arch: ModelArchitecture): number => {
  switch (arch.kind) {
    case "transformer":
      return arch.layers
    case "hf":
      return hfArchitectureOf(arch).layers
    default:
      return 1
  }
}

/** `bytes` for a reader: `3.1 PiB`, `125 GiB`. */
export const formatBytes = (bytes: number): string => {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
  const power = Math.min(units.length - 1, Math.max(0, Math.floor(Math.log2(Math.max(bytes, 1)) / 10)))
  const scaled = bytes / 1024 ** power
  return power === 0 ? `${bytes} bytes` : `${Number(scaled.toPrecision(scaled >= 100 ? 3 : 2))} ${units[power]}`
}

/** A count for a reader: as it is below ten million, `1e12` or `2.64e13` above. */
const formatCount = (n: number): string => (n < 1e7 ? String(n) : n.toExponential(2).replace(/\.?0*e\+?/, "e"))

/** The field of `fields` furthest above its default: the one to name for a size it drives. */
const furthest = (fields: ReadonlyArray<readonly [path: string, value: number, usual: number]>): string =>
  fields.reduce((best, field) => (field[1] / field[2] > best[1] / best[2] ? field : best))[0]

/** What the model is, and the field that makes it large. */
const modelPart = (recipe: Recipe, memory: RunMemory) => {
  if (!isChatRecipe(recipe)) return { path: "model", what: `the ${recipe.model.kind} of ${formatCount(memory.parameters)} parameters` }
  const { width, layers, contextLength } = recipe.model
  if (recipe.model.hf !== undefined) {
    return {
      path: furthest([["model.hf", memory.parameters, 1e6], ["model.contextLength", contextLength, 64]]),
      what: `the Hugging Face model at ${recipe.model.hf} (${formatCount(memory.parameters)} parameters, trained with AdamW) over context ${formatCount(contextLength)}`
    }
  }
  return {
    path: furthest([["model.width", width, 64], ["model.layers", layers, 2], ["model.contextLength", contextLength, 64]]),
    what: `a transformer of width ${formatCount(width)}, ${formatCount(layers)} layers and context ${formatCount(contextLength)} (${formatCount(memory.parameters)} parameters, trained with AdamW)`
  }
}

/** What one batch is, and the field that makes it large. */
const batchPart = (recipe: Recipe, section: "training" | "eval") => {
  const rows = recipe[section].batchSize
  const path = `${section}.batchSize`
  if (!isChatRecipe(recipe)) return { path, what: `${formatCount(rows)} rows` }
  const tokens = recipe.model.contextLength + 1
  return {
    path: furthest([[path, rows, 16], ["model.contextLength", recipe.model.contextLength, 64]]),
    what: `${formatCount(rows)} rows × ${formatCount(tokens)} tokens`
  }
}

/**
 * The problem with a run of `recipe` on a machine of `budgetBytes`, or none: when the model,
 * a training step or an evaluation step needs more than the machine has, the part that needs
 * the most is named by its field, e.g. `training.batchSize: 1e12 rows × 65 tokens would need
 * 3.1 PiB for one training step, more than the 125 GiB of memory this machine has`.
 */
export const memoryProblems = (recipe: Recipe, vocabSize: number, budgetBytes: number): ReadonlyArray<RecipeProblem> => {
  const memory = runMemory(recipe, vocabSize)
  const total = memory.model + Math.max(memory.trainStep, memory.evalStep)
  if (total <= budgetBytes) return []
  const parts = [
    { ...modelPart(recipe, memory), bytes: memory.model, use: "for its weights and optimizer state" },
    { ...batchPart(recipe, "training"), bytes: memory.trainStep, use: "for one training step" },
    { ...batchPart(recipe, "eval"), bytes: memory.evalStep, use: "for one evaluation step" }
  ]
  const largest = parts.reduce((best, part) => (part.bytes > best.bytes ? part : best))
  const inAll = formatBytes(largest.bytes) === formatBytes(total) ? "" : ` (${formatBytes(total)} in all)`
  return [{
    path: largest.path,
    message: `${largest.what} would need ${formatBytes(largest.bytes)} ${largest.use}${inAll}, more than the ${formatBytes(budgetBytes)} of memory this machine has`
  }]
}
