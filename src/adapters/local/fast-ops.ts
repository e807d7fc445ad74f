import * as tf from "@tensorflow/tfjs"
import { batchMatMul, biasedProduct } from "./batch-matmul.js"

/**
 * Whether a gradient tape is recording. Outside one (sampling, scoring) {@link affine2d} fuses
 * its bias into the product.
 */
const recording = (): boolean => tf.engine().isTapeOn()

/**
 * `a · b` for 2-D tensors: on wasm sous's own product kernel (see batch-matmul.ts), elsewhere
 * `tf.matMul`. Both give gradients through registered kernels, which tfjs evaluates only for
 * the inputs that lead to a trained weight: a frozen weight (a LoRA base) gets no `aᵀ · dy`,
 * a model's input (an MLP's features) no `dy · bᵀ`.
 */
export const matMul2d = (a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D => batchMatMul(a, b) as tf.Tensor2D

/**
 * `a · w + bias` for 2-D `a`: under a tape, {@link matMul2d} then the sum (as training always
 * rounded it); otherwise one product whose sums start from the bias (see `biasedProduct`).
 */
export const affine2d = (a: tf.Tensor2D, w: tf.Tensor2D, bias: tf.Tensor): tf.Tensor2D =>
  recording() ? matMul2d(a, w).add<tf.Tensor2D>(bias) : biasedProduct(a, w, bias)
