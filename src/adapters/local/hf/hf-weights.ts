import * as tf from "@tensorflow/tfjs"
import { Effect, Schema } from "effect"
import type { ParameterSet } from "../parameters.js"
import type { HfArchitecture, HfGpt2Architecture, HfLlamaArchitecture } from "./hf-architecture.js"

/**
 * One weight of a checkpoint: its Hugging Face name and shape as stored in the file.
 * `transposed` marks a torch Linear weight, stored [out, in]: it is loaded as [in, out] so that
 * every product runs untransposed (the fast path of tfjs-wasm). An exporter transposes it back.
 */
export interface HfWeightSpec {
  readonly name: string
  readonly shape: ReadonlyArray<number>
  readonly transposed: boolean
}

/** A tensor as read from a safetensors file: row-major float32 values of `shape`. */
export interface HfTensorValues {
  readonly shape: ReadonlyArray<number>
  readonly values: Float32Array
}

/** Weights that do not fit the architecture: the message names each tensor. */
export class HfWeightsError extends Schema.TaggedError<HfWeightsError>()("HfWeightsError", {
  message: Schema.String
}) {}

const plain = (name: string, shape: ReadonlyArray<number>): HfWeightSpec => ({ name, shape, transposed: false })
const linear = (name: string, outWidth: number, inWidth: number): HfWeightSpec => ({
  name,
  shape: [outWidth, inWidth],
  transposed: true
})

const llamaSpecs = (arch: HfLlamaArchitecture): Array<HfWeightSpec> => {
  const { vocabSize: v, hiddenSize: d, intermediateSize: m, heads, kvHeads, headDim } = arch
  const specs = [plain("model.embed_tokens.weight", [v, d])]
  for (let layer = 0; layer < arch.layers; layer++) {
    const p = `model.layers.${layer}`
    const a = `${p}.self_attn`
    specs.push(plain(`${p}.input_layernorm.weight`, [d]))
    for (const [proj, width] of [["q", heads * headDim], ["k", kvHeads * headDim], ["v", kvHeads * headDim]] as const) {
      specs.push(linear(`${a}.${proj}_proj.weight`, width, d))
      if (arch.qkvBias) specs.push(plain(`${a}.${proj}_proj.bias`, [width]))
    }
    specs.push(linear(`${a}.o_proj.weight`, d, heads * headDim))
    if (arch.outputBias) specs.push(plain(`${a}.o_proj.bias`, [d]))
    if (arch.qkNorm) specs.push(plain(`${a}.q_norm.weight`, [headDim]), plain(`${a}.k_norm.weight`, [headDim]))
    specs.push(
      plain(`${p}.post_attention_layernorm.weight`, [d]),
      linear(`${p}.mlp.gate_proj.weight`, m, d),
      linear(`${p}.mlp.up_proj.weight`, m, d),
      linear(`${p}.mlp.down_proj.weight`, d, m)
    )
  }
  specs.push(plain("model.norm.weight", [d]))
  if (!arch.tieWordEmbeddings) specs.push(linear("lm_head.weight", v, d))
  return specs
}

// GPT-2's Conv1D layers store their weights [in, out] already: no transposition.
const gpt2Specs = (arch: HfGpt2Architecture): Array<HfWeightSpec> => {
  const { vocabSize: v, width: d, innerSize: m } = arch
  const specs = [plain("transformer.wte.weight", [v, d]), plain("transformer.wpe.weight", [arch.positions, d])]
  const affine = (name: string, inWidth: number, outWidth: number) => [
    plain(`${name}.weight`, [inWidth, outWidth]),
    plain(`${name}.bias`, [outWidth])
  ]
  for (let layer = 0; layer < arch.layers; layer++) {
    const p = `transformer.h.${layer}`
    specs.push(
      plain(`${p}.ln_1.weight`, [d]),
      plain(`${p}.ln_1.bias`, [d]),
      ...affine(`${p}.attn.c_attn`, d, 3 * d),
      ...affine(`${p}.attn.c_proj`, d, d),
      plain(`${p}.ln_2.weight`, [d]),
      plain(`${p}.ln_2.bias`, [d]),
      ...affine(`${p}.mlp.c_fc`, d, m),
      ...affine(`${p}.mlp.c_proj`, m, d)
    )
  }
  specs.push(plain("transformer.ln_f.weight", [d]), plain("transformer.ln_f.bias", [d]))
  if (!arch.tieWordEmbeddings) specs.push(linear("lm_head.weight", v, d))
  return specs
}

/** Every weight an architecture reads, by its Hugging Face name, in checkpoint order. */
export const hfWeightSpecs = (arch: HfArchitecture): ReadonlyArray<HfWeightSpec> =>
  arch.family === "llama" ? llamaSpecs(arch) : gpt2Specs(arch)

/**
 * Tensors a checkpoint may hold that the model does not read: rotary tables and GPT-2's causal
 * mask buffers, which older transformers saved, and lm_head.weight of a tied model (tied,
 * transformers uses the embedding whatever the file holds).
 */
const ignorable = (arch: HfArchitecture, name: string): boolean =>
  (arch.tieWordEmbeddings && name === "lm_head.weight") ||
  (arch.family === "llama" ? /\.rotary_emb\.inv_freq$/ : /\.attn\.(bias|masked_bias)$/).test(name)

// GPT-2 checkpoints saved from GPT2Model (the Hub's gpt2 among them) have no "transformer." prefix.
const canonicalName = (arch: HfArchitecture, name: string): string =>
  arch.family === "gpt2" && !name.startsWith("transformer.") && name !== "lm_head.weight" ? `transformer.${name}` : name

const sameShape = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) =>
  a.length === b.length && a.every((size, i) => size === b[i])

/** Missing, unexpected and misshapen tensors, each named; empty when the weights fit. */
const weightProblems = (
  specs: ReadonlyArray<HfWeightSpec>,
  tensors: ReadonlyMap<string, HfTensorValues>,
  arch: HfArchitecture
): Array<string> => {
  const expected = new Map(specs.map((spec) => [spec.name, spec]))
  const problems: Array<string> = []
  for (const [name, tensor] of tensors) {
    const spec = expected.get(name)
    if (spec === undefined) {
      if (!ignorable(arch, name)) problems.push(`unexpected tensor ${name} (${arch.name} does not read it)`)
    } else if (!sameShape(tensor.shape, spec.shape)) {
      problems.push(`tensor ${name} has shape [${tensor.shape.join(", ")}], expected [${spec.shape.join(", ")}]`)
    }
  }
  for (const spec of specs) if (!tensors.has(spec.name)) problems.push(`tensor ${spec.name} is missing`)
  return problems
}

/**
 * The checkpoint's weights as tfjs variables named by their Hugging Face names, Linear weights
 * transposed to [in, out] (see {@link HfWeightSpec}). Fails, naming each tensor, when a tensor
 * is missing, has the wrong shape or is one the model does not read. `source` (the model
 * directory) leads the message. Free the result with `disposeParameters`.
 */
export const loadHfWeights = (
  arch: HfArchitecture,
  tensors: ReadonlyMap<string, HfTensorValues>,
  source: string,
  trainable = false
): Effect.Effect<ParameterSet, HfWeightsError> =>
  Effect.suspend(() => {
    const specs = hfWeightSpecs(arch)
    const named = new Map([...tensors].map(([name, tensor]) => [canonicalName(arch, name), tensor]))
    const problems = weightProblems(specs, named, arch)
    if (problems.length > 0) {
      return Effect.fail(new HfWeightsError({ message: `${source}: ${problems.join("; ")}` }))
    }
    const variables = new Map<string, tf.Variable>()
    for (const spec of specs) {
      const { values } = named.get(spec.name)!
      const value = tf.tidy(() => {
        const stored = tf.tensor(values, [...spec.shape], "float32")
        return spec.transposed ? stored.transpose() : stored
      })
      variables.set(spec.name, tf.variable(value, trainable))
      value.dispose()
    }
    return Effect.succeed({ names: specs.map((spec) => spec.name), variables })
  })
