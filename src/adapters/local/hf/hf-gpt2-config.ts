import { Result, Schema } from "effect"
import type { HfGpt2Architecture } from "./hf-architecture.js"
import { decodeFields, Dim, Positive, unset, unsupported } from "./hf-config-fields.js"

// The fields GPT2LMHeadModel reads, with GPT2Config's defaults where it has them.
const Gpt2Config = Schema.Struct({
  vocab_size: Dim,
  n_embd: Dim,
  n_layer: Dim,
  n_head: Dim,
  n_positions: Dim,
  n_inner: unset(Dim),
  activation_function: Schema.optionalKey(Schema.String),
  layer_norm_epsilon: Schema.optionalKey(Positive),
  scale_attn_weights: Schema.optionalKey(Schema.Boolean),
  scale_attn_by_inverse_layer_idx: Schema.optionalKey(Schema.Boolean),
  add_cross_attention: Schema.optionalKey(Schema.Boolean),
  tie_word_embeddings: Schema.optionalKey(Schema.Boolean),
  quantization_config: Schema.optionalKey(Schema.Unknown)
})

/**
 * A GPT-2 config.json. Refused by name, since each changes the math and is not implemented:
 * activation_function other than gelu_new, scale_attn_weights false,
 * scale_attn_by_inverse_layer_idx, add_cross_attention, quantization_config.
 * reorder_and_upcast_attn is accepted: it only changes float16 rounding, and this runs in float32.
 */
export const decodeGpt2Config = (input: unknown): Result.Result<HfGpt2Architecture, ReadonlyArray<string>> =>
  Result.flatMap(decodeFields(Gpt2Config, input), (config) => {
    const problems: Array<string> = []
    if (config.n_embd % config.n_head !== 0) {
      problems.push(`n_embd: ${config.n_embd} is not divisible by n_head ${config.n_head}`)
    }
    const act = config.activation_function ?? "gelu_new"
    if (act !== "gelu_new") problems.push(unsupported("activation_function", act, "GPT-2 is implemented with gelu_new only"))
    if (config.scale_attn_weights === false) {
      problems.push(unsupported("scale_attn_weights", false, "unscaled attention is not implemented"))
    }
    if (config.scale_attn_by_inverse_layer_idx === true) {
      problems.push(unsupported("scale_attn_by_inverse_layer_idx", true, "per-layer attention scaling is not implemented"))
    }
    if (config.add_cross_attention === true) {
      problems.push(unsupported("add_cross_attention", true, "cross-attention is not implemented"))
    }
    if (config.quantization_config !== undefined) {
      problems.push("quantization_config: quantized checkpoints are not supported (float32, float16 or bfloat16 weights only)")
    }
    if (problems.length > 0) return Result.fail(problems)
    return Result.succeed({
      family: "gpt2",
      name: "GPT2LMHeadModel",
      vocabSize: config.vocab_size,
      width: config.n_embd,
      layers: config.n_layer,
      heads: config.n_head,
      positions: config.n_positions,
      innerSize: config.n_inner ?? 4 * config.n_embd,
      layerNormEps: config.layer_norm_epsilon ?? 1e-5,
      tieWordEmbeddings: config.tie_word_embeddings ?? true
    })
  })
