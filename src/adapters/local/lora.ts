import * as tf from "@tensorflow/tfjs"
import type { ModelArchitecture } from "../../ports/index.js"
import { matMul2d } from "./fast-ops.js"
import { hfLoraTargets } from "./hf/hf-lora-targets.js"
import { hfArchitectureOf } from "./hf/hf-model.js"
import { initParameters, normal, type ParameterSet, type ParameterSpec, type WeightAdapter, type WeightLookup, zeros } from "./parameters.js"

/** Low-rank adapter settings with defaults resolved (protocol `LoraConfig` plus `alpha`). */
export interface LoraSettings {
  readonly rank: number
  /** Adapters are scaled by `alpha / rank`. */
  readonly alpha: number
  readonly trainAttn: boolean
  readonly trainMlp: boolean
  readonly trainUnembed: boolean
  /** The Hugging Face modules that get adapters (Hugging Face models only; absent otherwise). */
  readonly modules?: ReadonlyArray<string>
}

/** Trainable low-rank adapters over some weights of a frozen base model. */
export interface LoraAdapters extends ParameterSet {
  readonly settings: LoraSettings
  /** The base weights that carry an adapter. */
  readonly targets: ReadonlyArray<string>
}

const adapterA = (target: string) => `${target}.lora_a`
const adapterB = (target: string) => `${target}.lora_b`

/**
 * The weights that adapters cover: a transformer's attention and MLP projections and its
 * unembedding as the flags say, a Hugging Face model's matrices of the modules `settings`
 * names. Throws for other models, which LoRA does not adapt.
 */
export const loraTargets = (arch: ModelArchitecture, settings: LoraSettings): Array<string> => {
  if (arch.kind === "hf") return hfLoraTargets(hfArchitectureOf(arch), settings.modules ?? [])
  if (arch.kind !== "transformer") throw new Error(`LoRA adapts transformer models, not ${arch.kind} models`)
  const targets: Array<string> = []
  for (let layer = 0; layer < arch.layers; layer++) {
    const p = `layers.${layer}`
    if (settings.trainAttn) targets.push(`${p}.attn.wq`, `${p}.attn.wk`, `${p}.attn.wv`, `${p}.attn.wo`)
    if (settings.trainMlp) targets.push(`${p}.mlp.w1`, `${p}.mlp.w2`)
  }
  if (settings.trainUnembed) targets.push("unembed")
  return targets
}

/**
 * Adapters for `targets` of `base` (each a matrix [in, out]): `A` [in, rank] drawn from
 * `seed` and `B` [rank, out] zero, so a fresh adapter leaves the model as it was.
 */
export const initLora = (base: ParameterSet, targets: ReadonlyArray<string>, settings: LoraSettings, seed: number): LoraAdapters => {
  const specs: Array<ParameterSpec> = targets.flatMap((target) => {
    const [inWidth, outWidth] = base.variables.get(target)!.shape as [number, number]
    return [
      { name: adapterA(target), shape: [inWidth, settings.rank], init: normal(1 / Math.sqrt(inWidth)) },
      { name: adapterB(target), shape: [settings.rank, outWidth], init: zeros }
    ]
  })
  return { ...initParameters(specs, seed, true), settings, targets }
}

/** The adapter of one target: its frozen base weight, A, B and `alpha / rank`. */
const adapterOf = (base: ParameterSet, lora: LoraAdapters, target: string): WeightAdapter => ({
  base: base.variables.get(target)! as tf.Tensor2D,
  a: lora.variables.get(adapterA(target))! as tf.Tensor2D,
  b: lora.variables.get(adapterB(target))! as tf.Tensor2D,
  scale: lora.settings.alpha / lora.settings.rank
})

/** `W + (alpha / rank) · A·B` for one target. */
const adapted = (base: ParameterSet, lora: LoraAdapters, target: string): tf.Tensor => {
  const { base: weight, a, b, scale } = adapterOf(base, lora, target)
  return weight.add(matMul2d(a, b).mul(scale))
}

/**
 * The weights the model reads under adapters: adapted targets (merged, `W + scale · A·B`),
 * plain base weights elsewhere, and each target's adapter through `adapter`. sous's own
 * transformer reads the merged weights: one small matmul per target and step, and one forward
 * pass for every model. A Hugging Face model's projections take the adapters apart, since a
 * merged copy of every adapted matrix (kept for the backward pass) does not fit beside a
 * 135M-weight model in the wasm heap. Call inside `tf.tidy`.
 */
export const loraWeights = (base: ParameterSet, lora: LoraAdapters): WeightLookup => {
  const targets = new Set(lora.targets)
  const lookup = (name: string): tf.Tensor => {
    if (targets.has(name)) return adapted(base, lora, name)
    const variable = base.variables.get(name)
    if (variable === undefined) throw new Error(`Model parameter ${name} is missing`)
    return variable
  }
  return Object.assign(lookup, { adapter: (name: string) => (targets.has(name) ? adapterOf(base, lora, name) : undefined) })
}

/** The merged weights (adapters folded into the base), one new tensor per base weight, in base order. */
export const mergeLora = (base: ParameterSet, lora: LoraAdapters): Array<{ name: string; tensor: tf.Tensor }> => {
  const targets = new Set(lora.targets)
  return base.names.map((name) => ({
    name,
    tensor: targets.has(name) ? tf.tidy(() => adapted(base, lora, name)) : base.variables.get(name)!.clone()
  }))
}
