/**
 * A Hugging Face model directory with SmolLM2-135M's shape and random weights, for the
 * hf-model bench: config.json as the Hub's HuggingFaceTB/SmolLM2-135M has it (Llama, 30
 * layers of width 576, 9 query and 3 key/value heads, vocab 49,152, tied embeddings) and
 * model.safetensors in bfloat16, as that checkpoint is stored. Nothing is downloaded: the
 * bench measures the shape, not the weights, and runs where no network is.
 */
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect } from "effect"
import { encodeSafetensors, type SafeTensor } from "../src/adapters/hf-model/safetensors.js"
import { decodeHfArchitecture, hfWeightSpecs } from "../src/adapters/local/hf/index.js"
import { seededUniform } from "../src/adapters/local/token-sampler.js"

/** SmolLM2-135M's config.json as the Hub has it (written by transformers 4.48). */
export const smolLm2Config = {
  architectures: ["LlamaForCausalLM"],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 0,
  eos_token_id: 0,
  head_dim: 64,
  hidden_act: "silu",
  hidden_size: 576,
  initializer_range: 0.041666666666666664,
  intermediate_size: 1536,
  max_position_embeddings: 8192,
  mlp_bias: false,
  model_type: "llama",
  num_attention_heads: 9,
  num_hidden_layers: 30,
  num_key_value_heads: 3,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: null,
  rope_theta: 100000,
  tie_word_embeddings: true,
  torch_dtype: "bfloat16",
  use_cache: true,
  vocab_size: 49152
} as const

/** The parameter count of the real checkpoint, which the written one must match. */
export const smolLm2Parameters = 134_515_008

/** Standard deviation of the random weights: small enough that 30 layers keep activations finite. */
const weightStd = 0.02

/**
 * Writes config.json and a bfloat16 model.safetensors with `config`'s shape into `dir`:
 * every matrix uniform with standard deviation 0.02 drawn from `seed`, every RMSNorm weight
 * 1 (as a freshly built model has them, so the signal neither dies nor explodes). Returns
 * the parameter count.
 */
export const writeRandomHfModel = (dir: string, config: object, seed: number): Effect.Effect<number, Error> =>
  Effect.gen(function*() {
    const arch = yield* decodeHfArchitecture(config, "bench config")
    const random = seededUniform(seed)
    // Uniform on [-a, a] has standard deviation a / sqrt(3).
    const bound = weightStd * Math.sqrt(3)
    const tensors = new Map<string, SafeTensor>()
    let parameters = 0
    for (const spec of hfWeightSpecs(arch)) {
      const count = spec.shape.reduce((product, size) => product * size, 1)
      const values = new Float32Array(count)
      if (/norm\.weight$/.test(spec.name)) values.fill(1)
      else for (let i = 0; i < count; i++) values[i] = (2 * random() - 1) * bound
      tensors.set(spec.name, { dtype: "BF16", shape: spec.shape, values })
      parameters += count
    }
    yield* Effect.promise(async () => {
      await mkdir(dir, { recursive: true })
      await writeFile(join(dir, "config.json"), JSON.stringify(config, null, 2))
      await writeFile(join(dir, "model.safetensors"), encodeSafetensors(tensors, { format: "pt" }))
    })
    return parameters
  }).pipe(Effect.mapError((error) => new Error(error.message)))
