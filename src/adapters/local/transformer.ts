import * as tf from "@tensorflow/tfjs"
import type { TransformerArchitecture } from "../../ports/index.js"
import { embedRows, gelu, matMul2d } from "./fast-ops.js"
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

const layerNorm = (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor => {
  const { mean, variance } = tf.moments(x, -1, true)
  return x.sub(mean).mul(tf.rsqrt(variance.add(1e-5))).mul(gamma).add(beta)
}

/** [b, t, in] → [b, t, out]: the same affine map at every position (no bias when `b` is absent). */
const dense = (x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor): tf.Tensor => {
  const [batch, length, inWidth] = x.shape as [number, number, number]
  const outWidth = w.shape[1] as number
  const product = matMul2d(x.reshape([batch * length, inWidth]) as tf.Tensor2D, w as tf.Tensor2D)
  return (b === undefined ? product : product.add(b)).reshape([batch, length, outWidth])
}

/** Additive causal mask [t, t]: 0 where a position may attend, a large negative number above the diagonal. */
const causalMask = (length: number): tf.Tensor2D =>
  tf.tidy(() => {
    const lowerTriangle = tf.linalg.bandPart(tf.ones([length, length]), -1, 0)
    return tf.sub(1, lowerTriangle).mul(-1e9) as tf.Tensor2D
  })

const attention = (
  arch: TransformerArchitecture,
  weight: WeightLookup,
  p: string,
  x: tf.Tensor,
  mask: tf.Tensor2D
): tf.Tensor => {
  const { heads, width } = arch
  const [batch, length] = x.shape as [number, number, number]
  const headWidth = width / heads
  const split = (t: tf.Tensor): tf.Tensor4D =>
    t.reshape([batch, length, heads, headWidth]).transpose([0, 2, 1, 3]) as tf.Tensor4D
  const q = split(dense(x, weight(`${p}.wq`), weight(`${p}.bq`)))
  const k = split(dense(x, weight(`${p}.wk`)))
  const v = split(dense(x, weight(`${p}.wv`), weight(`${p}.bv`)))
  const scores = tf.matMul(q, k, false, true).mul(1 / Math.sqrt(headWidth)).add(mask)
  const mixed = tf.matMul(tf.softmax(scores), v).transpose([0, 2, 1, 3]).reshape([batch, length, width])
  return dense(mixed, weight(`${p}.wo`), weight(`${p}.bo`))
}

/**
 * Next-token logits [b, t, vocab] for int32 token ids [b, t] (t ≤ contextLength).
 * Attention is causal, so position i sees only positions ≤ i and right padding never
 * changes the logits of real positions. Call inside `tf.tidy`.
 */
export const transformerLogits = (
  arch: TransformerArchitecture,
  weight: WeightLookup,
  tokens: tf.Tensor2D
): tf.Tensor3D => {
  const { width, layers, contextLength } = arch
  const [batch, length] = tokens.shape
  if (length > contextLength) {
    throw new Error(`Sequence length ${length} exceeds the context length ${contextLength}`)
  }
  const tokenVectors = embedRows(weight("token_embedding") as tf.Tensor2D, tokens.reshape([batch * length]) as tf.Tensor1D)
    .reshape([batch, length, width])
  const positions = weight("position_embedding").slice([0, 0], [length, width])
  let x: tf.Tensor = tokenVectors.add(positions)
  const mask = causalMask(length)
  for (let layer = 0; layer < layers; layer++) {
    const p = `layers.${layer}`
    const attnInput = layerNorm(x, weight(`${p}.ln1.gamma`), weight(`${p}.ln1.beta`))
    x = x.add(attention(arch, weight, `${p}.attn`, attnInput, mask))
    const normed = layerNorm(x, weight(`${p}.ln2.gamma`), weight(`${p}.ln2.beta`))
    const hidden = gelu(dense(normed, weight(`${p}.mlp.w1`), weight(`${p}.mlp.b1`)))
    x = x.add(dense(hidden, weight(`${p}.mlp.w2`), weight(`${p}.mlp.b2`)))
  }
  const final = layerNorm(x, weight("ln_final.gamma"), weight("ln_final.beta"))
  return dense(final, weight("unembed")) as tf.Tensor3D
}
