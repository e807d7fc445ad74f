import { createHash } from "node:crypto"
import type { SafeDtype, SafeTensor } from "../../hf-model/safetensors.js"
import { shapeSize } from "../parameters.js"
import type { DecodedState } from "../state-codec.js"
import type { HfArchitecture } from "./hf-architecture.js"
import { hfWeightSpecs } from "./hf-weights.js"

// A local state of a Hugging Face model holds either every weight (`params/<hf name>`, Linear
// weights [in, out]) or, trained with LoRA, the adapters alone (`lora/<hf name>.lora_a` [in, r]
// and `.lora_b` [r, out]) over the model directory's weights. These functions turn either into
// the tensors a Hugging Face or PEFT checkpoint holds. Plain loops over float32 arrays: an
// export runs once, and needs no TensorFlow.js backend.

/** The float32 values of each tensor of a decoded state, by name, each a copy. */
const stateValues = (state: DecodedState): Map<string, { shape: ReadonlyArray<number>; values: Float32Array }> => {
  const tensors = new Map<string, { shape: ReadonlyArray<number>; values: Float32Array }>()
  let offset = 0
  for (const { name, shape } of state.header.tensors) {
    const bytes = 4 * shapeSize(shape)
    // `slice` copies into a buffer of its own, so the float32 view starts aligned.
    tensors.set(name, { shape, values: new Float32Array(state.data.slice(offset, offset + bytes).buffer) })
    offset += bytes
  }
  return tensors
}

/** `matrix` [rows, cols], row-major, as [cols, rows]. */
const transpose = (matrix: Float32Array, rows: number, cols: number): Float32Array => {
  const out = new Float32Array(matrix.length)
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = matrix[r * cols + c]!
  return out
}

/** `base + scale · A·B` for `base` [in, out], `a` [in, r] and `b` [r, out]: a new array. */
const addLowRank = (base: Float32Array, a: Float32Array, b: Float32Array, inWidth: number, rank: number, outWidth: number, scale: number) => {
  const out = new Float32Array(base)
  for (let i = 0; i < inWidth; i++) {
    for (let j = 0; j < outWidth; j++) {
      let sum = 0
      for (let k = 0; k < rank; k++) sum += a[i * rank + k]! * b[k * outWidth + j]!
      out[i * outWidth + j] = base[i * outWidth + j]! + scale * sum
    }
  }
  return out
}

// GPT-2 checkpoints saved from GPT2Model have no "transformer." prefix (as loadHfWeights reads them).
const sourceTensor = (source: ReadonlyMap<string, SafeTensor>, name: string): SafeTensor | undefined =>
  source.get(name) ?? (name.startsWith("transformer.") ? source.get(name.slice("transformer.".length)) : undefined)

/**
 * Why a LoRA state cannot be merged into `source`, or `undefined`: the state records a digest
 * of the base weights its adapters were trained on (SHA-256 of their float32 values in
 * architecture order, Linear weights [in, out], as the local backend holds them), and a model
 * directory whose weights changed since would give a merge nobody trained.
 */
export const loraBaseProblem = (arch: HfArchitecture, source: ReadonlyMap<string, SafeTensor>, state: DecodedState): string | undefined => {
  const lora = state.header.lora
  if (lora === undefined) return undefined
  const hash = createHash("sha256")
  for (const spec of hfWeightSpecs(arch)) {
    const tensor = sourceTensor(source, spec.name)
    if (tensor === undefined) return `the model directory has no tensor ${spec.name}`
    hash.update(spec.transposed ? transpose(tensor.values, spec.shape[0]!, spec.shape[1]!) : tensor.values)
  }
  return hash.digest("hex") === lora.baseDigest
    ? undefined
    : "its adapters were trained on other base weights than the model directory holds now"
}

/**
 * The weights of a trained state as a Hugging Face checkpoint holds them: every weight the
 * architecture reads, under its Hugging Face name, Linear weights back to [out, in], in
 * `dtype`. A full state gives its own weights; a LoRA state gives the source checkpoint's
 * weights with `(alpha / rank) · A·B` merged into each adapted one. `source` is the model
 * directory's tensors (what the run started from). Throws, naming the tensor, when the state
 * or the source lacks one.
 */
export const mergedHfTensors = (
  arch: HfArchitecture,
  source: ReadonlyMap<string, SafeTensor>,
  state: DecodedState,
  dtype: SafeDtype
): Map<string, SafeTensor> => {
  const trained = stateValues(state)
  const lora = state.header.lora
  const out = new Map<string, SafeTensor>()
  for (const spec of hfWeightSpecs(arch)) {
    const [rows, cols] = spec.transposed ? [spec.shape[1]!, spec.shape[0]!] : [0, 0]
    let values: Float32Array
    if (lora === undefined) {
      const weight = trained.get(`params/${spec.name}`)
      if (weight === undefined) throw new Error(`the state has no tensor params/${spec.name}`)
      values = weight.values
    } else {
      const base = sourceTensor(source, spec.name)
      if (base === undefined) throw new Error(`the model directory has no tensor ${spec.name}`)
      const a = trained.get(`lora/${spec.name}.lora_a`)
      const b = trained.get(`lora/${spec.name}.lora_b`)
      if (a === undefined || b === undefined) {
        out.set(spec.name, { dtype, shape: spec.shape, values: base.values })
        continue
      }
      // Merged as the forward pass adapts it, in [in, out], then transposed back below.
      const [inWidth, rank] = a.shape as [number, number]
      const outWidth = b.shape[1]!
      const stored = spec.transposed ? transpose(base.values, outWidth, inWidth) : base.values
      values = addLowRank(stored, a.values, b.values, inWidth, rank, outWidth, lora.alpha / lora.rank)
    }
    out.set(spec.name, { dtype, shape: spec.shape, values: spec.transposed ? transpose(values, rows, cols) : values })
  }
  return out
}

/** A PEFT LoRA adapter: adapter_model.safetensors's tensors and adapter_config.json. */
export interface PeftAdapter {
  readonly tensors: ReadonlyMap<string, SafeTensor>
  readonly config: Record<string, unknown>
}

/**
 * The adapters of a LoRA state as PEFT saves them: `base_model.model.<module>.lora_A.weight`
 * [r, in] and `.lora_B.weight` [out, r] (sous holds A [in, r] and B [r, out]), float32, with
 * the adapter_config.json that loads them over `baseModel`. GPT-2's Conv1D modules take the
 * same shapes: PEFT sizes A and B from the module's in and out features whatever way its
 * weight is stored, and `fan_in_fan_out: true` makes it transpose the merged update `B·A` to
 * the Conv1D weight's [in, out]. Returns a refusal (a string) for a state without adapters.
 */
export const peftAdapter = (arch: HfArchitecture, state: DecodedState, baseModel: string): PeftAdapter | string => {
  const lora = state.header.lora
  if (lora === undefined) return "the checkpoint holds full weights, not LoRA adapters: export it with --format hf"
  const tensors = new Map<string, SafeTensor>()
  for (const [name, { shape, values }] of stateValues(state)) {
    const match = /^lora\/(.+)\.weight\.lora_([ab])$/.exec(name)
    if (match === null) continue
    const [, module, which] = match as unknown as [string, string, "a" | "b"]
    const [rows, cols] = shape as [number, number]
    tensors.set(`base_model.model.${module}.lora_${which.toUpperCase()}.weight`, {
      dtype: "F32",
      shape: [cols, rows],
      values: transpose(values, rows, cols)
    })
  }
  const config = {
    peft_type: "LORA",
    task_type: "CAUSAL_LM",
    base_model_name_or_path: baseModel,
    r: lora.rank,
    lora_alpha: lora.alpha,
    lora_dropout: 0,
    target_modules: [...(lora.modules ?? [])],
    bias: "none",
    // GPT-2's projections are Conv1D ([in, out] weights). PEFT fixes the flag per module by its
    // type anyway, warning when the config says otherwise (as it will for an untied lm_head).
    fan_in_fan_out: arch.family === "gpt2",
    use_rslora: false,
    inference_mode: true
  }
  return { tensors, config }
}
