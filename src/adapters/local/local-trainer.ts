import * as tf from "@tensorflow/tfjs"
import type { AdamParams, ModelArchitecture } from "../../ports/index.js"
import { adamWStep, type AdamWState, type AdamWStepResult, initAdamW, resetAdamW } from "./adamw.js"
import { batchLoss } from "./batch-loss.js"
import type { LossRequest } from "./datum-batch.js"
import { initLora, type LoraAdapters, type LoraSettings, loraTargets, loraWeights } from "./lora.js"
import { disposeModel, initModel, type ModelParams } from "./model.js"
import { disposeParameters, lookupIn, type ParameterSet, type WeightLookup } from "./parameters.js"
import { withFloat32Values } from "./tensor-memory.js"

/**
 * Everything one training client owns: the model, the adapters when it trains LoRA (the
 * base is then frozen), the gradients of the trained weights accumulated since the last
 * optimizer step (so separate forward/backward calls can add up before one step) and the
 * AdamW state. Plain TensorFlow.js, no Effect.
 */
export interface LocalTrainer {
  readonly model: ModelParams
  readonly lora: LoraAdapters | undefined
  /** What gradients and the optimizer cover: the whole model, or the adapters alone. */
  readonly trained: ParameterSet
  /**
   * By trained weight, what the passes since the last step added up (zero after a step), in
   * JavaScript memory as AdamW's moments are (see `AdamWState`): in the wasm heap, the sum
   * and a backward pass's own gradients would be two copies of the trained weights at once.
   */
  readonly gradients: ReadonlyMap<string, Float32Array>
  /** The trained weights a pass has added a gradient to since the last step (the others' sums are zero). */
  readonly accumulated: Set<string>
  readonly optimizer: AdamWState
}

/** The loss of a batch and, per datum, the log-probability and the loss of each of its targets. */
export interface LossResult {
  readonly loss: number
  /** One array per datum, of its real (unpadded) length. */
  readonly targetLogprobs: ReadonlyArray<Float32Array>
  readonly positionLosses: ReadonlyArray<Float32Array>
  /** A classifier's log-probability of every class, one array per datum; absent for transformers. */
  readonly classLogprobs: ReadonlyArray<Float32Array> | undefined
}

/**
 * A fresh model from `seed`, or one holding the weights `start` (a Hugging Face model's, read
 * trainable unless `lora` is given; the trainer takes them over, and the caller frees them if
 * this throws). Frozen, with fresh adapters, when `lora` is given; zero gradients, zero
 * optimizer state. Throws on an architecture that cannot be built.
 */
export const createTrainer = (architecture: ModelArchitecture, seed: number, lora?: LoraSettings, start?: ParameterSet): LocalTrainer => {
  // Found first: loraTargets throws for a model LoRA cannot adapt, before any tensor is made.
  const targets = lora === undefined ? [] : loraTargets(architecture, lora)
  const model = start === undefined ? initModel(architecture, seed, lora === undefined) : { architecture, ...start }
  const adapters = lora === undefined ? undefined : initLora(model, targets, lora, seed)
  const trained: ParameterSet = adapters ?? model
  const gradients = new Map([...trained.variables].map(([name, variable]) => [name, new Float32Array(variable.size)]))
  return { model, lora: adapters, trained, gradients, accumulated: new Set(), optimizer: initAdamW(trained.variables) }
}

/** Frees every tensor of the trainer. */
export const disposeTrainer = (trainer: LocalTrainer): void => {
  disposeModel(trainer.model)
  if (trainer.lora !== undefined) disposeParameters(trainer.lora)
}

/** The weights the model reads: its own, or adapted by LoRA. */
export const trainerWeights = (trainer: LocalTrainer): WeightLookup =>
  trainer.lora === undefined ? lookupIn(trainer.model) : loraWeights(trainer.model, trainer.lora)

/** The tensors a pass hands back: loss, target logprobs, position losses, class logprobs (classifiers). */
type PassTensors = [tf.Scalar, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D | undefined]

/** Rows of a [rows, width] tensor, each cut to `lengths[row]` values. */
const readRows = (tensor: tf.Tensor2D, lengths: ReadonlyArray<number>): Array<Float32Array> => {
  const all = tensor.dataSync() as Float32Array
  const width = tensor.shape[1]
  return lengths.map((n, row) => all.slice(row * width, row * width + n))
}

/** Reads per-datum results back to JavaScript, then frees the tensors. */
const readResult = (request: LossRequest, [loss, logprobs, losses, classes]: PassTensors): LossResult => {
  try {
    const { lengths } = request.batch
    return {
      loss: loss.dataSync()[0]!,
      targetLogprobs: readRows(logprobs, lengths),
      positionLosses: readRows(losses, lengths),
      classLogprobs: classes === undefined ? undefined : readRows(classes, lengths.map(() => classes.shape[1]))
    }
  } finally {
    tf.dispose([loss, logprobs, losses, ...(classes === undefined ? [] : [classes])])
  }
}

/** The loss of a request, without gradients. */
export const forwardPass = (trainer: LocalTrainer, request: LossRequest): LossResult =>
  readResult(
    request,
    tf.tidy(() => {
      const result = batchLoss(trainer.model.architecture, trainerWeights(trainer), request)
      return [result.loss, result.targetLogprobs, result.positionLosses, result.classLogprobs] as PassTensors
    })
  )

/** The loss of a request; its gradients are added to those accumulated since the last step. */
export const forwardBackwardPass = (trainer: LocalTrainer, request: LossRequest): LossResult =>
  readResult(
    request,
    tf.tidy(() => {
      const { names, variables } = trainer.trained
      const trained = names.map((name) => variables.get(name)!)
      let kept: [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D | undefined] | undefined
      const { value, grads } = tf.variableGrads(() => {
        const result = batchLoss(trainer.model.architecture, trainerWeights(trainer), request)
        // variableGrads frees what its function creates except the loss: keep the outputs.
        const classes = result.classLogprobs === undefined ? undefined : tf.keep(result.classLogprobs)
        kept = [tf.keep(result.targetLogprobs), tf.keep(result.positionLosses), classes]
        return result.loss
      }, trained)
      names.forEach((name, i) => withFloat32Values(grads[trained[i]!.name]!, (values) => addGradient(trainer, name, values)))
      return [value, ...kept!] as PassTensors
    })
  )

/** Applies the accumulated gradients with AdamW, then clears them. */
export const optimizerStep = (trainer: LocalTrainer, adam: AdamParams): AdamWStepResult => {
  const result = adamWStep(trainer.trained.variables, trainer.gradients, trainer.optimizer, adam)
  clearGradients(trainer)
  return result
}

/**
 * Adds `gradient` to what the trained weight `name` has accumulated: the first since a step
 * is copied (a sum of zero and x is x; only a -0 would come out +0, which no use of the sum
 * tells apart).
 */
export const addGradient = (trainer: LocalTrainer, name: string, gradient: Float32Array): void => {
  const accumulated = trainer.gradients.get(name)!
  if (!trainer.accumulated.has(name)) {
    accumulated.set(gradient)
    trainer.accumulated.add(name)
    return
  }
  for (let i = 0; i < accumulated.length; i++) accumulated[i]! += gradient[i]!
}

/** Forgets the gradients accumulated since the last step. */
export const clearGradients = (trainer: LocalTrainer): void => {
  for (const gradient of trainer.gradients.values()) gradient.fill(0)
  trainer.accumulated.clear()
}

/** Resets the optimizer to its initial state (zero moments, step 0). */
export const resetOptimizer = (trainer: LocalTrainer): void => resetAdamW(trainer.optimizer)
