import * as tf from "@tensorflow/tfjs"
import { matMul2d } from "../fast-ops.js"
import type { WeightLookup } from "../parameters.js"

/**
 * [b, t, in] → [b, t, out] with `w` [in, out]: the same affine map at every position (no bias
 * when `b` is absent). A frozen `w` (a LoRA base) gets no gradient (see `matMul2d`).
 */
export const dense = (x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor): tf.Tensor3D => {
  const [batch, length, inWidth] = x.shape as [number, number, number]
  const out = matMul2d(x.reshape([batch * length, inWidth]) as tf.Tensor2D, w as tf.Tensor2D)
  return (b === undefined ? out : out.add(b)).reshape([batch, length, w.shape[1]!])
}

/**
 * `x · W (+ b)` for the Linear weight `name`; under a LoRA adapter on it, plus
 * `scale · (x·A)·B`, which holds only [rows, rank] activations where the merged weight would
 * hold a copy of W for the backward pass.
 */
export const projectThrough = (x: tf.Tensor, weight: WeightLookup, name: string, b?: tf.Tensor): tf.Tensor3D => {
  const adapter = weight.adapter?.(name)
  if (adapter === undefined) return dense(x, weight(name), b)
  return dense(x, adapter.base, b).add(dense(dense(x, adapter.a), adapter.b).mul(adapter.scale))
}

/** RMSNorm over the last axis, as transformers computes it: `w · x / sqrt(mean(x²) + eps)`. */
export const rmsNorm = (x: tf.Tensor, w: tf.Tensor, eps: number): tf.Tensor =>
  x.mul(tf.rsqrt(x.square().mean(-1, true).add(eps))).mul(w)

/** SiLU (swish): `x · sigmoid(x)`. */
export const silu = (x: tf.Tensor): tf.Tensor => x.mul(tf.sigmoid(x))
