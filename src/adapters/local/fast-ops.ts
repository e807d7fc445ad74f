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
export const matMul2d: (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D = tf.customGrad((...args) => {
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

/**
 * Rows `ids` of `table` ([n] int32 → [n, width]): a gather forward, and as gradient the
 * one-hot product `onehot(ids)ᵀ · dy` (the wasm backend has no kernel for gather's own
 * gradient, and a one-hot product forward costs a [n, vocab] × [vocab, width] matmul).
 */
export const embedRows = (table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D =>
  tf.customGrad((...args) => {
    const [rows, save] = args as [tf.Tensor2D, tf.GradSaveFunc]
    // Saved, not captured: the caller's scope disposes `ids` before the backward pass runs.
    save([ids])
    return {
      value: tf.gather(rows, ids),
      gradFunc: (dy: tf.Tensor, saved: Array<tf.Tensor>) =>
        tf.matMul(tf.transpose(tf.oneHot(saved[0] as tf.Tensor1D, table.shape[0]).toFloat()), dy as tf.Tensor2D)
    }
  })(table) as tf.Tensor2D

const geluScale = Math.sqrt(2 / Math.PI)
const geluCubic = 0.044715

/**
 * GELU, tanh approximation (as GPT-2), with its derivative written out:
 * y = x/2 · (1 + tanh u), u = c·(x + 0.044715·x³), and
 * dy/dx = (1 + tanh u)/2 + x/2 · (1 − tanh² u) · c·(1 + 3·0.044715·x²).
 * Autodiff of the same formula records about twice the kernels, `pow`'s gradient among them.
 */
export const gelu: (x: tf.Tensor) => tf.Tensor = tf.customGrad((...args) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc]
  const squared = x.square()
  const t = tf.tanh(x.mul(squared.mul(geluCubic).add(1)).mul(geluScale))
  save([x, squared, t])
  return {
    value: x.mul(t.add(1)).mul(0.5),
    gradFunc: (dy: tf.Tensor, saved: Array<tf.Tensor>) => {
      const [input, inputSquared, tanhU] = saved as [tf.Tensor, tf.Tensor, tf.Tensor]
      const slope = tanhU.add(1).mul(0.5).add(
        input.mul(0.5 * geluScale).mul(tf.sub(1, tanhU.square())).mul(inputSquared.mul(3 * geluCubic).add(1))
      )
      return dy.mul(slope)
    }
  }
}) as (x: tf.Tensor) => tf.Tensor
