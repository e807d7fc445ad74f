import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { decodeHfArchitecture, type HfArchitecture } from "../../../src/adapters/local/hf/index.js"

// Tiny configs in the shapes transformers writes them: version 4 keeps rope_theta and
// rope_scaling at the top level, version 5 one rope_parameters object.
const llama3Scaling = {
  rope_type: "llama3",
  factor: 8,
  low_freq_factor: 1,
  high_freq_factor: 4,
  original_max_position_embeddings: 16
}
const llama = {
  architectures: ["LlamaForCausalLM"],
  vocab_size: 96,
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  hidden_act: "silu",
  rms_norm_eps: 1e-5,
  rope_theta: 500000,
  rope_scaling: llama3Scaling,
  attention_bias: false,
  mlp_bias: false,
  tie_word_embeddings: false,
  max_position_embeddings: 64
}
const qwen2 = {
  ...llama,
  architectures: ["Qwen2ForCausalLM"],
  rope_scaling: null,
  rope_theta: 10000,
  tie_word_embeddings: true,
  use_sliding_window: false,
  sliding_window: 4096
}
const gpt2 = { architectures: ["GPT2LMHeadModel"], vocab_size: 96, n_embd: 32, n_layer: 2, n_head: 4, n_positions: 64 }

const decode = (config: unknown) => decodeHfArchitecture(config, "m/config.json")
const refusal = (config: unknown) => Effect.map(Effect.flip(decode(config)), (error) => error.message)

const llamaArchitecture: HfArchitecture = {
  family: "llama",
  name: "LlamaForCausalLM",
  vocabSize: 96,
  hiddenSize: 32,
  intermediateSize: 64,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  headDim: 8,
  rmsNormEps: 1e-5,
  ropeTheta: 500000,
  ropeScaling: { kind: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 16 },
  qkvBias: false,
  outputBias: false,
  qkNorm: false,
  slidingWindow: undefined,
  tieWordEmbeddings: false
}

describe("decodeHfArchitecture", () => {
  it.effect("reads a Llama 3 config as transformers 4 and as transformers 5 write it", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* decode(llama), llamaArchitecture)
      const { rope_theta: _theta, rope_scaling: _scaling, ...rest } = llama
      const v5 = { ...rest, rope_parameters: { ...llama3Scaling, rope_theta: 500000 } }
      assert.deepStrictEqual(yield* decode(v5), llamaArchitecture)
      // The older key "type" names the rope type too; "default" means no scaling.
      const plain = yield* decode({ ...llama, rope_scaling: { type: "default" } })
      assert.deepStrictEqual(plain.family === "llama" && plain.ropeScaling, { kind: "none" })
    }))

  it.effect("gives each family its biases, norms, head size, window and defaults", () =>
    Effect.gen(function*() {
      const q2 = yield* decode(qwen2)
      assert.deepInclude(q2, { qkvBias: true, outputBias: false, qkNorm: false, slidingWindow: undefined, tieWordEmbeddings: true })
      // Qwen3's head_dim need not be hidden_size / heads; attention_bias adds o_proj's bias too.
      const q3 = yield* decode({ ...qwen2, architectures: ["Qwen3ForCausalLM"], head_dim: 16, attention_bias: true })
      assert.deepInclude(q3, { headDim: 16, qkvBias: true, outputBias: true, qkNorm: true })
      const mistral = yield* decode({ ...qwen2, architectures: ["MistralForCausalLM"], attention_bias: true })
      assert.deepInclude(mistral, { qkvBias: false, outputBias: false, slidingWindow: 4096 })
      // Defaults of the config classes: one kv head per head, eps 1e-6, theta 10000, untied.
      const bare = yield* decode({
        architectures: ["LlamaForCausalLM"],
        vocab_size: 96,
        hidden_size: 32,
        intermediate_size: 64,
        num_hidden_layers: 2,
        num_attention_heads: 4
      })
      assert.deepInclude(bare, { kvHeads: 4, headDim: 8, rmsNormEps: 1e-6, ropeTheta: 10000, tieWordEmbeddings: false })
      assert.deepStrictEqual(yield* decode(gpt2), {
        family: "gpt2",
        name: "GPT2LMHeadModel",
        vocabSize: 96,
        width: 32,
        layers: 2,
        heads: 4,
        positions: 64,
        innerSize: 128,
        layerNormEps: 1e-5,
        tieWordEmbeddings: true
      })
    }))

  it.effect("refuses an architecture it does not run, naming it", () =>
    Effect.gen(function*() {
      assert.strictEqual(
        yield* refusal({ ...llama, architectures: ["GemmaForCausalLM"] }),
        "m/config.json: architectures[0]: \"GemmaForCausalLM\" is not supported (supported: LlamaForCausalLM, " +
          "Qwen2ForCausalLM, Qwen3ForCausalLM, MistralForCausalLM, GPT2LMHeadModel)"
      )
      assert.match(yield* refusal({ vocab_size: 96 }), /^m\/config\.json: architectures: /)
      assert.match(yield* refusal({ ...llama, architectures: [] }), /architectures: /)
    }))

  it.effect("refuses, by field, every setting that changes the math and is not implemented", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [{ ...llama, hidden_act: "gelu" }, "hidden_act: \"gelu\" is not supported"],
        [{ ...llama, rope_scaling: { rope_type: "yarn", factor: 4 } }, "rope_scaling.rope_type: \"yarn\" is not supported (supported: default, llama3)"],
        [{ ...llama, rope_scaling: { type: "dynamic", factor: 2 } }, "rope_scaling.type: \"dynamic\" is not supported"],
        [{ ...llama, rope_parameters: { rope_type: "linear", factor: 2, rope_theta: 1 } }, "rope_parameters.rope_type: \"linear\""],
        [{ ...llama, rope_scaling: { rope_type: "llama3", factor: 8 } }, "rope_scaling: rope_type \"llama3\" needs factor, low_freq_factor"],
        [{ ...llama, partial_rotary_factor: 0.5 }, "partial_rotary_factor: 0.5 is not supported"],
        [{ ...llama, mlp_bias: true }, "mlp_bias: true is not supported"],
        [{ ...qwen2, use_sliding_window: true }, "use_sliding_window: true is not supported"],
        [{ ...qwen2, layer_types: ["full_attention", "sliding_attention"] }, "layer_types[1]: \"sliding_attention\" is not supported"],
        [{ ...llama, quantization_config: { quant_method: "gptq" } }, "quantization_config: quantized checkpoints are not supported"],
        [{ ...llama, num_key_value_heads: 3 }, "num_key_value_heads: 3 does not divide num_attention_heads 4"],
        [{ ...llama, num_attention_heads: 5 }, "hidden_size: 32 is not divisible by num_attention_heads 5"],
        [{ ...llama, head_dim: 7, num_key_value_heads: 1 }, "head_dim: 7 is odd"],
        [{ ...llama, hidden_size: undefined }, "hidden_size: "],
        [{ ...llama, vocab_size: 0 }, "vocab_size: expected a value greater than 0, got 0"],
        [{ ...gpt2, activation_function: "relu" }, "activation_function: \"relu\" is not supported"],
        [{ ...gpt2, scale_attn_weights: false }, "scale_attn_weights: false is not supported"],
        [{ ...gpt2, scale_attn_by_inverse_layer_idx: true }, "scale_attn_by_inverse_layer_idx: true is not supported"],
        [{ ...gpt2, add_cross_attention: true }, "add_cross_attention: true is not supported"],
        [{ ...gpt2, n_head: 5 }, "n_embd: 32 is not divisible by n_head 5"]
      ]
      for (const [config, expected] of cases) {
        const message = yield* refusal(config)
        assert.include(message, expected)
        assert.match(message, /^m\/config\.json: /)
      }
    }))

  it.effect("reports every problem of a config at once", () =>
    Effect.gen(function*() {
      const message = yield* refusal({ ...llama, hidden_act: "relu", mlp_bias: true, rope_scaling: { rope_type: "yarn" } })
      assert.include(message, "hidden_act: \"relu\"")
      assert.include(message, "mlp_bias: true")
      assert.include(message, "rope_scaling.rope_type: \"yarn\"")
    }))
})
