import type * as tf from "@tensorflow/tfjs"
import { embedRows } from "../gather-rows.js"
import type { WeightLookup } from "../parameters.js"
import type { LayerCache } from "../transformer.js"
import type { HfLlamaArchitecture } from "./hf-architecture.js"
import { attend, causalMask, splitHeads, withPast } from "./hf-attention.js"
import { projectThrough, rmsNorm, silu } from "./hf-ops.js"
import { applyRope, ropeInverseFrequencies, ropeTables } from "./hf-rope.js"

/** Final hidden states and every layer's keys and values, the new positions included. */
export interface HfHidden {
  readonly hidden: tf.Tensor3D
  readonly cache: ReadonlyArray<LayerCache>
}

/**
 * The final hidden states [b, t, hidden] (after model.norm) of a Llama-family model for token
 * ids [b, t] that follow the positions `past` holds. Weights by their Hugging Face names,
 * Linear weights [in, out]. Keys are cached after the rotation, and before the repetition
 * for grouped-query attention. Call inside `tf.tidy`.
 */
export const llamaHidden = (
  arch: HfLlamaArchitecture,
  weight: WeightLookup,
  tokens: tf.Tensor2D,
  past?: ReadonlyArray<LayerCache>
): HfHidden => {
  const { hiddenSize, heads, kvHeads, headDim, rmsNormEps: eps } = arch
  const [batch, length] = tokens.shape
  const seen = past?.[0]?.keys.shape[2] ?? 0
  if (arch.slidingWindow !== undefined && seen + length > arch.slidingWindow) {
    throw new Error(
      `Sequence length ${seen + length} exceeds sliding_window ${arch.slidingWindow}: sliding-window attention is not implemented`
    )
  }
  let x: tf.Tensor = embedRows(weight("model.embed_tokens.weight") as tf.Tensor2D, tokens.reshape([batch * length]) as tf.Tensor1D)
    .reshape([batch, length, hiddenSize])
  const { cos, sin } = ropeTables(ropeInverseFrequencies(arch), seen, length)
  const mask = causalMask(length, seen)
  const cache: Array<LayerCache> = []
  for (let layer = 0; layer < arch.layers; layer++) {
    const p = `model.layers.${layer}`
    const a = `${p}.self_attn`
    const normed = rmsNorm(x, weight(`${p}.input_layernorm.weight`), eps)
    const project = (proj: "q" | "k" | "v", count: number) => {
      const bias = arch.qkvBias ? weight(`${a}.${proj}_proj.bias`) : undefined
      const projected = projectThrough(normed, weight, `${a}.${proj}_proj.weight`, bias)
      // Qwen3 normalises each head (over headDim) before the rotation.
      return splitHeads(
        arch.qkNorm && proj !== "v"
          ? rmsNorm(projected.reshape([batch, length, count, headDim]), weight(`${a}.${proj}_norm.weight`), eps)
          : projected,
        count,
        headDim
      )
    }
    const q = applyRope(project("q", heads), cos, sin)
    const layerCache = {
      keys: withPast(applyRope(project("k", kvHeads), cos, sin), past?.[layer]?.keys),
      values: withPast(project("v", kvHeads), past?.[layer]?.values)
    }
    cache.push(layerCache)
    const attended = attend(q, layerCache, mask)
    x = x.add(projectThrough(attended, weight, `${a}.o_proj.weight`, arch.outputBias ? weight(`${a}.o_proj.bias`) : undefined))
    const mlpInput = rmsNorm(x, weight(`${p}.post_attention_layernorm.weight`), eps)
    const gate = silu(projectThrough(mlpInput, weight, `${p}.mlp.gate_proj.weight`))
    x = x.add(projectThrough(gate.mul(projectThrough(mlpInput, weight, `${p}.mlp.up_proj.weight`)), weight, `${p}.mlp.down_proj.weight`))
  }
  return { hidden: rmsNorm(x, weight("model.norm.weight"), eps) as tf.Tensor3D, cache }
}
