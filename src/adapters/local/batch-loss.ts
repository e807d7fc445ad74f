import * as tf from "@tensorflow/tfjs"
import { isLanguageModel, type ModelArchitecture } from "../../ports/index.js"
import type { DatumBatch, LossRequest } from "./datum-batch.js"
import { targetLogprobs } from "./activation-kernels.js"
import { positionLosses } from "./losses.js"
import { type ModelFeed, modelLogits } from "./model.js"
import type { WeightLookup } from "./parameters.js"

/** The loss of a batch, the loss at each position and the log-probability of every target. */
export interface BatchLoss {
  /** The sum of `positionLosses`: a sum, not a mean, as the protocol's losses. */
  readonly loss: tf.Scalar
  /** [batchSize, length], zero on padding. */
  readonly positionLosses: tf.Tensor2D
  /** log p(target) at every position, [batchSize, length] (padding included). */
  readonly targetLogprobs: tf.Tensor2D
  /** A classifier's log-probability of every class, [batchSize, classes]; absent for transformers. */
  readonly classLogprobs: tf.Tensor2D | undefined
}


/** The batch's model input as tensors. */
const feedTensors = (batch: DatumBatch): ModelFeed => {
  const { feed, batchSize, length } = batch
  return feed.kind === "tokens"
    ? { kind: "tokens", ids: tf.tensor2d(feed.ids, [batchSize, length], "int32") }
    : { kind: "features", values: tf.tensor(feed.values, [batchSize, ...feed.shape], "float32") }
}

/**
 * The loss of a checked request under the model `weight` describes. Creates tensors: call
 * inside `tf.tidy`, or inside `tf.variableGrads` for gradients.
 */
export const batchLoss = (arch: ModelArchitecture, weight: WeightLookup, request: LossRequest): BatchLoss => {
  const { batch } = request
  const shape: [number, number] = [batch.batchSize, batch.length]
  const logits = modelLogits(arch, weight, feedTensors(batch))
  const logprobs = targetLogprobs(logits, tf.tensor2d(batch.targets, shape, "int32"))
  const inputs = new Map([...batch.inputs].map(([key, values]) => [key, tf.tensor2d(values, shape, "float32")]))
  const losses = positionLosses(request.lossFn, request.config, {
    logprobs,
    mask: tf.tensor2d(batch.mask, shape, "float32"),
    inputs
  })
  // A classifier scores one position, so every class's log-probability is cheap to return,
  // and it is what accuracy needs (the argmax), which target logprobs alone cannot give.
  const classLogprobs = isLanguageModel(arch) ? undefined : tf.logSoftmax(logits.squeeze([1])) as tf.Tensor2D
  return { loss: losses.sum() as tf.Scalar, positionLosses: losses, targetLogprobs: logprobs, classLogprobs }
}
