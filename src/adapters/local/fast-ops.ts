import * as tf from "@tensorflow/tfjs"

/**
 * `a · b` for 2-D tensors, with a gradient made of untransposed products only.
 *
 * tf.matMul's own gradient asks for `dy · bᵀ` and `aᵀ · dy` as transposed products. The wasm
 * backend sends only untransposed, unbatched products to XNNPACK; a transposed one runs on
 * its scalar loop, about five times slower (measured: 1 against 5–10 GFLOP/s on a
 * [704, 64] × [64, 256] product). Transposing the operand first is a copy, far cheaper than
 * the slow product. The products are the same sums, so only rounding can differ.
 */
const matMul2dWithGradient: (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D = tf.customGrad((...args) => {
  const [a, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc]
  save([a, b])
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor, saved: Array<tf.Tensor>) => {
      const [left, right] = saved as [tf.Tensor2D, tf.Tensor2D]
      // Each product in its own scope: a transposed copy (and XNNPACK's packed copy of it)
      // would otherwise live until the whole backward pass ends, one per weight, which a
      // fully trained 135M-weight model cannot hold beside itself in the wasm heap.
      return [
        tf.tidy(() => tf.matMul(dy as tf.Tensor2D, tf.transpose(right))),
        tf.tidy(() => tf.matMul(tf.transpose(left), dy as tf.Tensor2D))
      ]
    }
  }
}) as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D

/**
 * Whether a gradient tape is recording. Outside one (sampling, scoring) the ops below skip
 * their custom gradients: a custom gradient opens a scope of its own around its kernels,
 * overhead that a generation step of a small model pays dozens of times.
 */
export const recording = (): boolean => tf.engine().isTapeOn()

/** See {@link matMul2dWithGradient}; a plain product when no tape records. */
export const matMul2d = (a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D => recording() ? matMul2dWithGradient(a, b) : tf.matMul(a, b)

/**
 * `a · w + bias` for 2-D `a`: under a tape, {@link matMul2d} then the sum; otherwise one
 * fused kernel (on wasm, XNNPACK adds the bias as it multiplies).
 */
export const affine2d = (a: tf.Tensor2D, w: tf.Tensor2D, bias: tf.Tensor): tf.Tensor2D =>
  recording() ? matMul2d(a, w).add<tf.Tensor2D>(bias) : tf.fused.matMul({ a, b: w, bias }) as tf.Tensor2D

/**
 * `a · w` for a weight that is not trained (a LoRA base): the gradient goes to `a` alone.
 * `matMul2d` would also make `aᵀ · dy`, a tensor the size of `w`, for every frozen matrix of
 * the model, which a 135M-weight model cannot hold beside itself in the wasm heap.
 */
export const frozenMatMul = (a: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D =>
  tf.customGrad((...args) => {
    const [rows, save] = args as [tf.Tensor2D, tf.GradSaveFunc]
    // Saved, not captured: a weight made in the forward pass (a tied output layer) is
    // disposed with its scope before the backward pass runs.
    save([w])
    return {
      value: tf.matMul(rows, w),
      // As matMul2d: the weight transposed, freed (with XNNPACK's packed copy of it) as soon
      // as the product is made.
      gradFunc: (dy: tf.Tensor, saved: Array<tf.Tensor>) =>
        tf.tidy(() => tf.matMul(dy as tf.Tensor2D, tf.transpose(saved[0]! as tf.Tensor2D)))
    }
  })(a) as tf.Tensor2D

