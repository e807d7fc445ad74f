import * as tf from "@tensorflow/tfjs"
import { gelu } from "../activation-kernels.js"
import { embedRows } from "../gather-rows.js"
import { layerNorm } from "../layer-norm.js"
import type { WeightLookup } from "../parameters.js"
import type { LayerCache } from "../transformer.js"
import type { HfGpt2Architecture } from "./hf-architecture.js"
import { attend, causalMask, splitHeads, withPast } from "./hf-attention.js"
import type { HfHidden } from "./hf-llama.js"
import { projectThrough } from "./hf-ops.js"

/**
 * The final hidden states [b, t, width] (after ln_f) of GPT-2 for token ids [b, t] that follow
 * the positions `past` holds. Weights by their Hugging Face names; Conv1D weights are [in, out]
 * as stored. Call inside `tf.tidy`.
 */
export const gpt2Hidden = (
  arch: HfGpt2Architecture,
  weight: WeightLookup,
  tokens: tf.Tensor2D,
  past?: ReadonlyArray<LayerCache>
): HfHidden => {
  const { width, heads, layerNormEps: eps } = arch
  const headDim = width / heads
  const [batch, length] = tokens.shape
  const seen = past?.[0]?.keys.shape[2] ?? 0
  if (seen + length > arch.positions) {
    throw new Error(`Sequence length ${seen + length} exceeds n_positions ${arch.positions}`)
  }
  const tokenVectors = embedRows(weight("transformer.wte.weight") as tf.Tensor2D, tokens.reshape([batch * length]) as tf.Tensor1D)
    .reshape([batch, length, width])
  let x: tf.Tensor = tokenVectors.add(weight("transformer.wpe.weight").slice([seen, 0], [length, width]))
  const mask = causalMask(length, seen)
  const cache: Array<LayerCache> = []
  for (let layer = 0; layer < arch.layers; layer++) {
    const p = `transformer.h.${layer}`
    const normed = layerNorm(x, weight(`${p}.ln_1.weight`), weight(`${p}.ln_1.bias`), eps)
    // One fused projection: queries, keys and values side by side, in that order.
    const [q, k, v] = tf.split(projectThrough(normed, weight, `${p}.attn.c_attn.weight`, weight(`${p}.attn.c_attn.bias`)), 3, 2)
    const layerCache = {
      keys: withPast(splitHeads(k!, heads, headDim), past?.[layer]?.keys),
      values: withPast(splitHeads(v!, heads, headDim), past?.[layer]?.values)
    }
    cache.push(layerCache)
    const attended = attend(splitHeads(q!, heads, headDim), layerCache, mask)
    x = x.add(projectThrough(attended, weight, `${p}.attn.c_proj.weight`, weight(`${p}.attn.c_proj.bias`)))
    const mlpInput = layerNorm(x, weight(`${p}.ln_2.weight`), weight(`${p}.ln_2.bias`), eps)
    const hidden = gelu(projectThrough(mlpInput, weight, `${p}.mlp.c_fc.weight`, weight(`${p}.mlp.c_fc.bias`)))
    x = x.add(projectThrough(hidden, weight, `${p}.mlp.c_proj.weight`, weight(`${p}.mlp.c_proj.bias`)))
  }
  const final = layerNorm(x, weight("transformer.ln_f.weight"), weight("transformer.ln_f.bias"), eps)
  return { hidden: final as tf.Tensor3D, cache }
}
