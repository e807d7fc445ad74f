import * as tf from "@tensorflow/tfjs"
import type { TokenBatch } from "./token-batch.js"
import { transformerLogits, type TransformerParams } from "./transformer.js"

/** The cross-entropy loss of a batch and the log-probability of every target token. */
export interface CrossEntropy {
  /** Σ weights · −log p(target): a sum, not a mean, as the protocol's `cross_entropy`. */
  readonly loss: tf.Scalar
  /** log p(target) at every position, [batchSize, length] (padding included). */
  readonly targetLogprobs: tf.Tensor2D
}

/** log p(targets) [b, t] from logits [b, t, vocab]. */
export const targetLogprobs = (logits: tf.Tensor3D, targets: tf.Tensor2D): tf.Tensor2D => {
  const vocabSize = logits.shape[2]
  // A one-hot mask instead of gather: the wasm backend has no gradient for gather.
  const mask = tf.oneHot(targets, vocabSize).toFloat()
  return tf.logSoftmax(logits).mul(mask).sum(-1) as tf.Tensor2D
}

/**
 * The cross-entropy of a batch under the model. Creates tensors: call inside `tf.tidy`, or
 * inside `tf.variableGrads` for gradients.
 */
export const transformerLoss = (params: TransformerParams, batch: TokenBatch): CrossEntropy => {
  const shape: [number, number] = [batch.batchSize, batch.length]
  const logits = transformerLogits(params, tf.tensor2d(batch.inputs, shape, "int32"))
  const logprobs = targetLogprobs(logits, tf.tensor2d(batch.targets, shape, "int32"))
  const loss = logprobs.mul(tf.tensor2d(batch.weights, shape, "float32")).sum().neg() as tf.Scalar
  return { loss, targetLogprobs: logprobs }
}
