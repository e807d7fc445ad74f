import * as tf from "@tensorflow/tfjs"
import { targetLogprobs } from "../activation-kernels.js"
import { matMul2d } from "../fast-ops.js"
import type { WeightLookup } from "../parameters.js"
import type { LayerCache } from "../transformer.js"
import type { HfArchitecture } from "./hf-architecture.js"
import { gpt2Hidden } from "./hf-gpt2.js"
import { type HfHidden, llamaHidden } from "./hf-llama.js"

const hidden = (arch: HfArchitecture, weight: WeightLookup, tokens: tf.Tensor2D, past?: ReadonlyArray<LayerCache>): HfHidden =>
  arch.family === "llama" ? llamaHidden(arch, weight, tokens, past) : gpt2Hidden(arch, weight, tokens, past)

const widthOf = (arch: HfArchitecture): number => (arch.family === "llama" ? arch.hiddenSize : arch.width)

/**
 * The output layer [width, vocab]: lm_head.weight (loaded transposed), or with tied
 * embeddings the token embedding transposed. The copy costs far less than a transposed
 * product, which tfjs-wasm runs on its slow path.
 */
const outputWeight = (arch: HfArchitecture, weight: WeightLookup): tf.Tensor2D => {
  if (weight.unembedding !== undefined) return weight.unembedding
  if (!arch.tieWordEmbeddings) return weight("lm_head.weight") as tf.Tensor2D
  return tf.transpose(weight(arch.family === "llama" ? "model.embed_tokens.weight" : "transformer.wte.weight") as tf.Tensor2D)
}

/**
 * `weight` for a run of steps over weights that do not change (decoding): a tied output
 * layer, the embedding transposed, is made once rather than at every token, where the copy
 * of a [vocab, width] table cost two thirds of a 135M-weight model's decoding time. Call
 * `dispose` after the last step.
 */
export const fixedOutput = (arch: HfArchitecture, weight: WeightLookup): { readonly weight: WeightLookup; readonly dispose: () => void } => {
  if (!arch.tieWordEmbeddings || weight.unembedding !== undefined) return { weight, dispose: () => {} }
  const unembedding = tf.tidy(() => outputWeight(arch, weight))
  const fixed: WeightLookup = Object.assign((name: string) => weight(name), { unembedding, ...(weight.adapter === undefined ? {} : { adapter: weight.adapter }) })
  return { weight: fixed, dispose: () => unembedding.dispose() }
}

/** [rows, width] hidden states → [rows, vocab] logits. */
const project = (arch: HfArchitecture, weight: WeightLookup, rows: tf.Tensor2D): tf.Tensor2D => matMul2d(rows, outputWeight(arch, weight))

/**
 * Next-token logits [b, t, vocab] for int32 token ids [b, t], as transformers' *ForCausalLM
 * (or GPT2LMHeadModel) computes them in float32. `weight` looks weights up by their Hugging
 * Face names, Linear weights [in, out] (as `loadHfWeights` stores them). Call inside `tf.tidy`.
 */
export const hfLogits = (arch: HfArchitecture, weight: WeightLookup, tokens: tf.Tensor2D): tf.Tensor3D => {
  const [batch, length] = tokens.shape
  const width = widthOf(arch)
  const rows = hidden(arch, weight, tokens).hidden.reshape([batch * length, width]) as tf.Tensor2D
  return project(arch, weight, rows).reshape([batch, length, arch.vocabSize])
}

/**
 * One decoding step: the next-token logits [b, vocab] of the last of `tokens` [b, t], which
 * follow the positions `past` holds, and every layer's keys and values with `tokens` added.
 * Call inside `tf.tidy`.
 */
export const hfStep = (
  arch: HfArchitecture,
  weight: WeightLookup,
  tokens: tf.Tensor2D,
  past?: ReadonlyArray<LayerCache>
): { readonly logits: tf.Tensor2D; readonly cache: ReadonlyArray<LayerCache> } => {
  const [batch, length] = tokens.shape
  const width = widthOf(arch)
  const step = hidden(arch, weight, tokens, past)
  const last = step.hidden.slice([0, length - 1, 0], [batch, 1, width]).reshape([batch, width]) as tf.Tensor2D
  return { logits: project(arch, weight, last), cache: step.cache }
}

/**
 * transformers' causal-LM loss with `labels = input_ids`: the mean over every row and every
 * position but the last of -log p(next token). Needs t ≥ 2. Call inside `tf.tidy` (or
 * `tf.variableGrads`).
 */
export const hfLoss = (arch: HfArchitecture, weight: WeightLookup, tokens: tf.Tensor2D): tf.Scalar => {
  const [batch, length] = tokens.shape
  if (length < 2) throw new Error(`The loss needs sequences of at least 2 tokens, got ${length}`)
  const predicted = hfLogits(arch, weight, tokens).slice([0, 0, 0], [batch, length - 1, arch.vocabSize]) as tf.Tensor3D
  const targets = tokens.slice([0, 1], [batch, length - 1]) as tf.Tensor2D
  return targetLogprobs(predicted, targets).mean().neg() as tf.Scalar
}

/** The first index of the largest value (torch.argmax's choice on ties). */
const argmax = (values: Float32Array): number => {
  let best = 0
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i
  return best
}

interface Step {
  readonly logits: tf.Tensor2D
  readonly cache: ReadonlyArray<LayerCache>
}

// tidy's types take no readonly arrays; the step's tensors survive the scope, all else is freed.
const tidyStep = (make: () => Step): Step => tf.tidy(() => make() as unknown as tf.TensorContainer) as unknown as Step

const disposeStep = (step: Step) => tf.dispose([step.logits, ...step.cache.flatMap(({ keys, values }) => [keys, values])])

/**
 * Greedy decoding, as transformers' `generate(do_sample=False)` with no end-of-sequence stop:
 * `maxNew` tokens after `prompt`, each the most likely next one. The prompt goes through the
 * model once; each new token then costs one position (a KV cache). Frees every tensor it makes.
 */
export const hfGreedy = (
  arch: HfArchitecture,
  weight: WeightLookup,
  prompt: ReadonlyArray<number>,
  maxNew: number
): Array<number> => {
  if (prompt.length === 0) throw new Error("Greedy decoding needs a prompt of at least one token")
  const tokens: Array<number> = []
  if (maxNew <= 0) return tokens
  const { weight: fixed, dispose } = fixedOutput(arch, weight)
  let step = tidyStep(() => hfStep(arch, fixed, tf.tensor2d([...prompt], [1, prompt.length], "int32")))
  try {
    for (;;) {
      tokens.push(argmax(step.logits.dataSync() as Float32Array))
      if (tokens.length >= maxNew) return tokens
      const previous = step
      step = tidyStep(() => hfStep(arch, fixed, tf.tensor2d([tokens.at(-1)!], [1, 1], "int32"), previous.cache))
      disposeStep(previous)
    }
  } finally {
    disposeStep(step)
    dispose()
  }
}
