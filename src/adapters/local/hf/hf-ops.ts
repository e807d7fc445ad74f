import * as tf from "@tensorflow/tfjs"
import { matMul2d } from "../fast-ops.js"

/** [b, t, in] → [b, t, out] with `w` [in, out]: the same affine map at every position (no bias when `b` is absent). */
export const dense = (x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor): tf.Tensor3D => {
  const [batch, length, inWidth] = x.shape as [number, number, number]
  const product = matMul2d(x.reshape([batch * length, inWidth]) as tf.Tensor2D, w as tf.Tensor2D)
  return (b === undefined ? product : product.add(b)).reshape([batch, length, w.shape[1]!])
}

/** RMSNorm over the last axis, as transformers computes it: `w · x / sqrt(mean(x²) + eps)`. */
export const rmsNorm = (x: tf.Tensor, w: tf.Tensor, eps: number): tf.Tensor =>
  x.mul(tf.rsqrt(x.square().mean(-1, true).add(eps))).mul(w)

/** LayerNorm over the last axis (biased variance, as torch). */
export const layerNorm = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor => {
  const { mean, variance } = tf.moments(x, -1, true)
  return x.sub(mean).mul(tf.rsqrt(variance.add(eps))).mul(w).add(b)
}

/** SiLU (swish): `x · sigmoid(x)`. */
export const silu = (x: tf.Tensor): tf.Tensor => x.mul(tf.sigmoid(x))
