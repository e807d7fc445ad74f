import * as tf from "@tensorflow/tfjs"
import type { AdamParams, TransformerArchitecture } from "../../ports/index.js"
import { adamWStep, type AdamWState, type AdamWStepResult, disposeAdamW, initAdamW, resetAdamW } from "./adamw.js"
import { transformerLoss } from "./cross-entropy.js"
import type { TokenBatch } from "./token-batch.js"
import { disposeTransformer, initTransformer, type TransformerParams } from "./transformer.js"

/**
 * Everything one training client owns: the model, the gradients accumulated since the last
 * optimizer step (non-trainable variables, so separate forward/backward calls can add up
 * before one step) and the AdamW state. Plain TensorFlow.js, no Effect.
 */
export interface LocalTrainer {
  readonly params: TransformerParams
  readonly gradients: ReadonlyMap<string, tf.Variable>
  readonly optimizer: AdamWState
}

/** The loss of a batch and, per sequence, the log-probability of each of its targets. */
export interface LossResult {
  readonly loss: number
  readonly weightSum: number
  /** One array per sequence, of its real (unpadded) length. */
  readonly targetLogprobs: ReadonlyArray<Float32Array>
}

/** A fresh model from `seed`, zero gradients, zero optimizer state. */
export const createTrainer = (architecture: TransformerArchitecture, seed: number): LocalTrainer => {
  const params = initTransformer(architecture, seed)
  const gradients = new Map<string, tf.Variable>()
  for (const [name, variable] of params.variables) {
    gradients.set(name, tf.tidy(() => tf.variable(tf.zerosLike(variable), false)))
  }
  return { params, gradients, optimizer: initAdamW(params.variables) }
}

/** Frees every tensor of the trainer. */
export const disposeTrainer = (trainer: LocalTrainer): void => {
  disposeTransformer(trainer.params)
  for (const gradient of trainer.gradients.values()) gradient.dispose()
  disposeAdamW(trainer.optimizer)
}

/** Reads the loss and logprobs back to JavaScript, then frees them. */
const readResult = (batch: TokenBatch, [loss, logprobs]: [tf.Scalar, tf.Tensor2D]): LossResult => {
  try {
    const all = logprobs.dataSync() as Float32Array
    return {
      loss: loss.dataSync()[0]!,
      weightSum: batch.weights.reduce((total, w) => total + w, 0),
      targetLogprobs: batch.lengths.map((n, row) => all.slice(row * batch.length, row * batch.length + n))
    }
  } finally {
    tf.dispose([loss, logprobs])
  }
}

/** The loss of a batch, without gradients. */
export const forwardPass = (trainer: LocalTrainer, batch: TokenBatch): LossResult =>
  readResult(
    batch,
    tf.tidy(() => {
      const { loss, targetLogprobs } = transformerLoss(trainer.params, batch)
      return [loss, targetLogprobs]
    })
  )

/** The loss of a batch; its gradients are added to those accumulated since the last step. */
export const forwardBackwardPass = (trainer: LocalTrainer, batch: TokenBatch): LossResult =>
  readResult(
    batch,
    tf.tidy(() => {
      const names = trainer.params.names
      const variables = names.map((name) => trainer.params.variables.get(name)!)
      let logprobs: tf.Tensor2D | undefined
      const { value, grads } = tf.variableGrads(() => {
        const result = transformerLoss(trainer.params, batch)
        // variableGrads frees what its function creates except the loss: keep the logprobs.
        logprobs = tf.keep(result.targetLogprobs)
        return result.loss
      }, variables)
      names.forEach((name, i) => {
        const accumulated = trainer.gradients.get(name)!
        accumulated.assign(accumulated.add(grads[variables[i]!.name]!))
      })
      return [value, logprobs!]
    })
  )

/** Applies the accumulated gradients with AdamW, then clears them. */
export const optimizerStep = (trainer: LocalTrainer, adam: AdamParams): AdamWStepResult => {
  const result = adamWStep(trainer.params.variables, trainer.gradients, trainer.optimizer, adam)
  clearGradients(trainer)
  return result
}

/** Forgets the gradients accumulated since the last step. */
export const clearGradients = (trainer: LocalTrainer): void => {
  tf.tidy(() => {
    for (const gradient of trainer.gradients.values()) gradient.assign(tf.zerosLike(gradient))
  })
}

/** Resets the optimizer to its initial state (zero moments, step 0). */
export const resetOptimizer = (trainer: LocalTrainer): void => resetAdamW(trainer.optimizer)
