import * as tf from "@tensorflow/tfjs"
import type { TransformerArchitecture } from "../../ports/index.js"
import { batchMatMul } from "./batch-matmul.js"
import { affine2d, matMul2d } from "./fast-ops.js"
import { gelu } from "./activation-kernels.js"
import { embedRows } from "./gather-rows.js"
import { layerNorm } from "./layer-norm.js"
import { normal, ones, type ParameterSpec, type WeightLookup, zeros } from "./parameters.js"

/** The parameters an architecture has, in their canonical order (GPT-2 style init). */
export const transformerSpecs = (arch: TransformerArchitecture): ReadonlyArray<ParameterSpec> => {
  const { vocabSize: v, contextLength: t, width: d, layers } = arch
  const standard = normal(0.02)
  // Projections that add into the residual stream are scaled down with depth so the
  // stream's variance at init does not grow with the number of layers.
  const residual = normal(0.02 / Math.sqrt(2 * layers))
  const specs: Array<ParameterSpec> = [
    { name: "token_embedding", shape: [v, d], init: standard },
    { name: "position_embedding", shape: [t, d], init: standard }
  ]
  for (let layer = 0; layer < layers; layer++) {
    const p = `layers.${layer}`
    specs.push(
      { name: `${p}.ln1.gamma`, shape: [d], init: ones },
      { name: `${p}.ln1.beta`, shape: [d], init: zeros },
      { name: `${p}.attn.wq`, shape: [d, d], init: standard },
      { name: `${p}.attn.bq`, shape: [d], init: zeros },
      // No key bias: it adds the same q·b to every score of a row, which softmax ignores, so
      // its true gradient is zero and Adam would turn rounding noise into ±lr steps.
      { name: `${p}.attn.wk`, shape: [d, d], init: standard },
      { name: `${p}.attn.wv`, shape: [d, d], init: standard },
      { name: `${p}.attn.bv`, shape: [d], init: zeros },
      { name: `${p}.attn.wo`, shape: [d, d], init: residual },
      { name: `${p}.attn.bo`, shape: [d], init: zeros },
      { name: `${p}.ln2.gamma`, shape: [d], init: ones },
      { name: `${p}.ln2.beta`, shape: [d], init: zeros },
      { name: `${p}.mlp.w1`, shape: [d, 4 * d], init: standard },
      { name: `${p}.mlp.b1`, shape: [4 * d], init: zeros },
      { name: `${p}.mlp.w2`, shape: [4 * d, d], init: residual },
      { name: `${p}.mlp.b2`, shape: [d], init: zeros }
    )
  }
  specs.push(
    { name: "ln_final.gamma", shape: [d], init: ones },
    { name: "ln_final.beta", shape: [d], init: zeros },
    { name: "unembed", shape: [d, v], init: standard }
  )
  return specs
}

/** Why an architecture cannot be built, or `undefined` when it can. */
export const transformerProblem = (arch: TransformerArchitecture): string | undefined =>
  arch.width % arch.heads === 0 ? undefined : `width ${arch.width} is not divisible by heads ${arch.heads}`

/** The layer norms' epsilon (torch's default). */
const layerNormEps = 1e-5

/** [b, t, in] → [b, t, out]: the same affine map at every position (no bias when `b` is absent). */
const dense = (x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor): tf.Tensor => {
  const [batch, length, inWidth] = x.shape as [number, number, number]
  const outWidth = w.shape[1] as number
  const rows = x.reshape([batch * length, inWidth]) as tf.Tensor2D
  return (b === undefined ? matMul2d(rows, w as tf.Tensor2D) : affine2d(rows, w as tf.Tensor2D, b)).reshape([batch, length, outWidth])
}

/**
 * What one layer's attention has seen: keys and values [b, heads, seen, headWidth] of every
 * position so far, so that generation computes each new position once (a KV cache).
 */
export interface LayerCache {
  readonly keys: tf.Tensor4D
  readonly values: tf.Tensor4D
}

/**
 * Additive causal mask [t, past + t] of `t` new positions after `past` cached ones: 0 where a
 * position may attend (every cached one, and new ones up to itself), a large negative number
 * elsewhere. One new position sees everything: no mask.
 */
const causalMask = (length: number, past: number): tf.Tensor2D | undefined =>
  length === 1 ? undefined : tf.tidy(() => {
    const visible = tf.linalg.bandPart(tf.ones([length, past + length]), -1, past)
    return tf.sub(1, visible).mul(-1e9) as tf.Tensor2D
  })

const attention = (
  arch: TransformerArchitecture,
  weight: WeightLookup,
  p: string,
  x: tf.Tensor,
  mask: tf.Tensor2D | undefined,
  past: LayerCache | undefined
): { readonly output: tf.Tensor; readonly cache: LayerCache } => {
  const { heads, width } = arch
  const [batch, length] = x.shape as [number, number, number]
  const headWidth = width / heads
  const split = (t: tf.Tensor): tf.Tensor4D =>
    t.reshape([batch, length, heads, headWidth]).transpose([0, 2, 1, 3]) as tf.Tensor4D
  const withPast = (t: tf.Tensor4D, seen: tf.Tensor4D | undefined) => seen === undefined ? t : tf.concat([seen, t], 2)
  const q = split(dense(x, weight(`${p}.wq`), weight(`${p}.bq`)))
  const k = withPast(split(dense(x, weight(`${p}.wk`))), past?.keys)
  const v = withPast(split(dense(x, weight(`${p}.wv`), weight(`${p}.bv`))), past?.values)
  const scaled = batchMatMul(q, k, false, true).mul(1 / Math.sqrt(headWidth))
  const scores = mask === undefined ? scaled : scaled.add(mask)
  const mixed = batchMatMul(tf.softmax(scores), v).transpose([0, 2, 1, 3]).reshape([batch, length, width])
  return { output: dense(mixed, weight(`${p}.wo`), weight(`${p}.bo`)), cache: { keys: k, values: v } }
}

/**
 * The final hidden states [b, t, width] (after the last layer norm) of int32 token ids
 * [b, t] that follow the positions `past` holds (none without it), and every layer's cache
 * with these positions added. Attention is causal, so position i sees only positions ≤ i
 * and right padding never changes the results of real positions. Call inside `tf.tidy`.
 */
const transformerHidden = (
  arch: TransformerArchitecture,
  weight: WeightLookup,
  tokens: tf.Tensor2D,
  past?: ReadonlyArray<LayerCache>
): { readonly hidden: tf.Tensor; readonly cache: ReadonlyArray<LayerCache> } => {
  const { width, layers, contextLength } = arch
  const [batch, length] = tokens.shape
  const seen = past?.[0]?.keys.shape[2] ?? 0
  if (seen + length > contextLength) {
    throw new Error(`Sequence length ${seen + length} exceeds the context length ${contextLength}`)
  }
  const tokenVectors = embedRows(weight("token_embedding") as tf.Tensor2D, tokens.reshape([batch * length]) as tf.Tensor1D)
    .reshape([batch, length, width])
  const positions = weight("position_embedding").slice([seen, 0], [length, width])
  let x: tf.Tensor = tokenVectors.add(positions)
  const mask = causalMask(length, seen)
  const cache: Array<LayerCache> = []
  for (let layer = 0; layer < layers; layer++) {
    const p = `layers.${layer}`
    const attnInput = layerNorm(x, weight(`${p}.ln1.gamma`), weight(`${p}.ln1.beta`), layerNormEps)
    const attended = attention(arch, weight, `${p}.attn`, attnInput, mask, past?.[layer])
    cache.push(attended.cache)
    x = x.add(attended.output)
    const normed = layerNorm(x, weight(`${p}.ln2.gamma`), weight(`${p}.ln2.beta`), layerNormEps)
    const hidden = gelu(dense(normed, weight(`${p}.mlp.w1`), weight(`${p}.mlp.b1`)))
    x = x.add(dense(hidden, weight(`${p}.mlp.w2`), weight(`${p}.mlp.b2`)))
  }
  return { hidden: layerNorm(x, weight("ln_final.gamma"), weight("ln_final.beta"), layerNormEps), cache }
}

/** Next-token logits [b, t, vocab] for int32 token ids [b, t] (t ≤ contextLength). Call inside `tf.tidy`. */
export const transformerLogits = (
  arch: TransformerArchitecture,
  weight: WeightLookup,
  tokens: tf.Tensor2D
): tf.Tensor3D => dense(transformerHidden(arch, weight, tokens).hidden, weight("unembed")) as tf.Tensor3D

/**
 * One generation step: the next-token logits [b, vocab] of the last of `tokens` [b, t], which
 * follow the positions `past` holds, and the caches with `tokens` added. Only the last
 * position goes through the output layer. Call inside `tf.tidy`.
 */
export const transformerStep = (
  arch: TransformerArchitecture,
  weight: WeightLookup,
  tokens: tf.Tensor2D,
  past?: ReadonlyArray<LayerCache>
): { readonly logits: tf.Tensor2D; readonly cache: ReadonlyArray<LayerCache> } => {
  const { hidden, cache } = transformerHidden(arch, weight, tokens, past)
  const [batch, length] = tokens.shape
  const last = hidden.slice([0, length - 1, 0], [batch, 1, arch.width]).reshape([batch, arch.width]) as tf.Tensor2D
  return { logits: matMul2d(last, weight("unembed") as tf.Tensor2D), cache }
}
