import { Result, Schema } from "effect"
import type { HfLlamaArchitecture, HfLlamaFamilyName, HfRopeScaling } from "./hf-architecture.js"
import { decodeFields, Dim, Positive, unset, unsupported } from "./hf-config-fields.js"

const RopeParameters = Schema.Struct({
  rope_type: Schema.optionalKey(Schema.String),
  // The name older configs use for rope_type.
  type: Schema.optionalKey(Schema.String),
  rope_theta: unset(Positive),
  factor: unset(Positive),
  low_freq_factor: unset(Positive),
  high_freq_factor: unset(Positive),
  original_max_position_embeddings: unset(Dim),
  partial_rotary_factor: unset(Schema.Finite)
})

// The fields transformers reads for these models. Defaults are the config classes' own; a
// key that is absent and has no default fails by name.
const LlamaConfig = Schema.Struct({
  vocab_size: Dim,
  hidden_size: Dim,
  intermediate_size: Dim,
  num_hidden_layers: Dim,
  num_attention_heads: Dim,
  num_key_value_heads: unset(Dim),
  head_dim: unset(Dim),
  hidden_act: Schema.optionalKey(Schema.String),
  rms_norm_eps: Schema.optionalKey(Positive),
  // transformers 4 writes rope_theta and rope_scaling; transformers 5 one rope_parameters.
  rope_theta: unset(Positive),
  rope_scaling: unset(RopeParameters),
  rope_parameters: unset(RopeParameters),
  partial_rotary_factor: unset(Schema.Finite),
  attention_bias: Schema.optionalKey(Schema.Boolean),
  mlp_bias: Schema.optionalKey(Schema.Boolean),
  tie_word_embeddings: Schema.optionalKey(Schema.Boolean),
  sliding_window: unset(Dim),
  use_sliding_window: Schema.optionalKey(Schema.Boolean),
  layer_types: unset(Schema.Array(Schema.String)),
  quantization_config: Schema.optionalKey(Schema.Unknown)
})
type LlamaConfig = typeof LlamaConfig.Type

const ropeTypes = ["default", "llama3"]

/** The rotary settings, from rope_parameters (transformers 5) or rope_theta and rope_scaling (4). */
const decodeRope = (config: LlamaConfig, problems: Array<string>): { theta: number; scaling: HfRopeScaling } => {
  const [key, rope] = config.rope_parameters != null
    ? ["rope_parameters", config.rope_parameters] as const
    : ["rope_scaling", config.rope_scaling ?? {}] as const
  const theta = rope.rope_theta ?? config.rope_theta ?? 10000
  const partial = rope.partial_rotary_factor ?? config.partial_rotary_factor
  if (partial != null && partial !== 1) {
    const name = rope.partial_rotary_factor != null ? `${key}.partial_rotary_factor` : "partial_rotary_factor"
    problems.push(unsupported(name, partial, "rotary positions on part of each head are not implemented"))
  }
  const type = rope.rope_type ?? rope.type ?? "default"
  if (!ropeTypes.includes(type)) {
    const name = rope.rope_type !== undefined ? `${key}.rope_type` : `${key}.type`
    problems.push(unsupported(name, type, `supported: ${ropeTypes.join(", ")}`))
  }
  if (type !== "llama3") return { theta, scaling: { kind: "none" } }
  const { factor, low_freq_factor, high_freq_factor, original_max_position_embeddings } = rope
  if (factor == null || low_freq_factor == null || high_freq_factor == null || original_max_position_embeddings == null) {
    problems.push(
      `${key}: rope_type "llama3" needs factor, low_freq_factor, high_freq_factor and original_max_position_embeddings`
    )
    return { theta, scaling: { kind: "none" } }
  }
  if (!(high_freq_factor > low_freq_factor)) {
    problems.push(`${key}: high_freq_factor must be greater than low_freq_factor, got ${high_freq_factor} and ${low_freq_factor}`)
  }
  return {
    theta,
    scaling: {
      kind: "llama3",
      factor,
      lowFreqFactor: low_freq_factor,
      highFreqFactor: high_freq_factor,
      originalMaxPositions: original_max_position_embeddings
    }
  }
}

/**
 * A Llama, Qwen2, Qwen3 or Mistral config.json. Refused by name, since each changes the math
 * and is not implemented: hidden_act other than silu, rope types other than default/llama3,
 * partial_rotary_factor other than 1, Llama's mlp_bias, Qwen's use_sliding_window, layer_types
 * other than full_attention, and quantization_config (quantized weights). Mistral's
 * sliding_window is kept: the forward pass refuses sequences longer than it.
 */
export const decodeLlamaConfig = (
  name: HfLlamaFamilyName,
  input: unknown
): Result.Result<HfLlamaArchitecture, ReadonlyArray<string>> =>
  Result.flatMap(decodeFields(LlamaConfig, input), (config) => {
    const problems: Array<string> = []
    const heads = config.num_attention_heads
    const kvHeads = config.num_key_value_heads ?? heads
    if (heads % kvHeads !== 0) {
      problems.push(`num_key_value_heads: ${kvHeads} does not divide num_attention_heads ${heads}`)
    }
    // Qwen3's config class defaults head_dim to 128; the others derive it from the width.
    const headDim = config.head_dim ?? (name === "Qwen3ForCausalLM" ? 128 : config.hidden_size / heads)
    if (config.head_dim == null && !Number.isInteger(headDim)) {
      problems.push(`hidden_size: ${config.hidden_size} is not divisible by num_attention_heads ${heads} (and head_dim is not set)`)
    } else if (headDim % 2 !== 0) {
      problems.push(`head_dim: ${headDim} is odd; rotary positions rotate pairs`)
    }
    const act = config.hidden_act ?? "silu"
    if (act !== "silu") problems.push(unsupported("hidden_act", act, `${name} is implemented with silu only`))
    if (name === "LlamaForCausalLM" && config.mlp_bias === true) {
      problems.push(unsupported("mlp_bias", true, "MLP biases are not implemented"))
    }
    const qwen = name === "Qwen2ForCausalLM" || name === "Qwen3ForCausalLM"
    if (qwen && config.use_sliding_window === true) {
      problems.push(unsupported("use_sliding_window", true, "sliding-window attention is not implemented"))
    }
    config.layer_types?.forEach((type, i) => {
      if (type !== "full_attention") problems.push(unsupported(`layer_types[${i}]`, type, "only full_attention is implemented"))
    })
    if (config.quantization_config !== undefined) {
      problems.push("quantization_config: quantized checkpoints are not supported (float32, float16 or bfloat16 weights only)")
    }
    const rope = decodeRope(config, problems)
    if (problems.length > 0) return Result.fail(problems)
    // Qwen2 always has q/k/v biases and never an o_proj bias; Mistral has none.
    const attentionBias = (name === "LlamaForCausalLM" || name === "Qwen3ForCausalLM") && config.attention_bias === true
    return Result.succeed({
      family: "llama",
      name,
      vocabSize: config.vocab_size,
      hiddenSize: config.hidden_size,
      intermediateSize: config.intermediate_size,
      layers: config.num_hidden_layers,
      heads,
      kvHeads,
      headDim,
      rmsNormEps: config.rms_norm_eps ?? 1e-6,
      ropeTheta: rope.theta,
      ropeScaling: rope.scaling,
      qkvBias: attentionBias || name === "Qwen2ForCausalLM",
      outputBias: attentionBias,
      qkNorm: name === "Qwen3ForCausalLM",
      slidingWindow: name === "MistralForCausalLM" ? config.sliding_window ?? undefined : undefined,
      tieWordEmbeddings: config.tie_word_embeddings ?? false
    })
  })
