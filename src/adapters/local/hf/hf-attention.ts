import * as tf from "@tensorflow/tfjs"
import { batchMatMul } from "../batch-matmul.js"
import type { LayerCache } from "../transformer.js"

/**
 * Additive causal mask [t, past + t] for `t` new positions after `past` cached ones: 0 where a
 * position may attend (every cached one, and new ones up to itself), a large negative number
 * elsewhere. A single new position sees everything: no mask.
 */
export const causalMask = (length: number, past: number): tf.Tensor2D | undefined =>
  length === 1 ? undefined : tf.tidy(() => {
    const visible = tf.linalg.bandPart(tf.ones([length, past + length]), -1, past)
    return tf.sub(1, visible).mul(-1e9) as tf.Tensor2D
  })

/** [b, t, heads · headDim] → [b, heads, t, headDim]. */
export const splitHeads = (x: tf.Tensor, heads: number, headDim: number): tf.Tensor4D => {
  const [batch, length] = x.shape as [number, number, number]
  return x.reshape([batch, length, heads, headDim]).transpose([0, 2, 1, 3]) as tf.Tensor4D
}

/** Appends new keys or values [b, kvHeads, t, headDim] to the cached ones along the positions. */
export const withPast = (x: tf.Tensor4D, seen: tf.Tensor4D | undefined): tf.Tensor4D =>
  seen === undefined ? x : tf.concat([seen, x], 2)

// transformers' repeat_kv: query head h reads key/value head floor(h / groups). Tiled as
// rank 3 ([b·kvHeads, 1, t·headDim]): tfjs cannot differentiate a rank-5 tile, and the wasm
// backend has no kernel for a gather's gradient. The values are the same copies.
const repeatHeads = (x: tf.Tensor4D, groups: number): tf.Tensor4D => {
  if (groups === 1) return x
  const [batch, kvHeads, length, headDim] = x.shape
  return x.reshape([batch * kvHeads, 1, length * headDim]).tile([1, groups, 1])
    .reshape([batch, kvHeads * groups, length, headDim]) as tf.Tensor4D
}

/**
 * Scaled dot-product attention of queries [b, heads, t, headDim] over keys and values
 * [b, kvHeads, seen + t, headDim] (grouped-query when kvHeads < heads), scaled by
 * 1/sqrt(headDim), with `mask` [t, seen + t] added to the scores. Returns [b, t, heads · headDim].
 */
export const attend = (q: tf.Tensor4D, cache: LayerCache, mask: tf.Tensor2D | undefined): tf.Tensor3D => {
  const [batch, heads, length, headDim] = q.shape
  const groups = heads / cache.keys.shape[1]
  const keys = repeatHeads(cache.keys, groups)
  const values = repeatHeads(cache.values, groups)
  const scaled = batchMatMul(q, keys, false, true).mul(1 / Math.sqrt(headDim))
  const scores = mask === undefined ? scaled : scaled.add(mask)
  return batchMatMul(tf.softmax(scores), values).transpose([0, 2, 1, 3]).reshape([batch, length, heads * headDim]) as tf.Tensor3D
}
