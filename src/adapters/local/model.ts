import type * as tf from "@tensorflow/tfjs"
import type { LanguageModelArchitecture, ModelArchitecture } from "../../ports/index.js"
import { architectureProblem } from "./architecture-problem.js"
import { cnnLogits, cnnSpecs, mlpLogits, mlpSpecs } from "./classifiers.js"
import {
  disposeParameters,
  initParameters,
  type ParameterSet,
  type ParameterSpec,
  specsSize,
  type WeightLookup
} from "./parameters.js"
import { fixedOutput, hfLogits, hfStep } from "./hf/hf-forward.js"
import { hfArchitectureOf, hfParameterSpecs } from "./hf/hf-model.js"
import { type LayerCache, transformerLogits, transformerSpecs, transformerStep } from "./transformer.js"

/**
 * What a batch feeds a model: token ids [b, t] for a transformer, float features
 * [b, ...inputShape] for a classifier.
 */
export type ModelFeed =
  | { readonly kind: "tokens"; readonly ids: tf.Tensor2D }
  | { readonly kind: "features"; readonly values: tf.Tensor }

/** The weights of a model of one architecture. */
export interface ModelParams extends ParameterSet {
  readonly architecture: ModelArchitecture
}

/** The parameters an architecture has, in their canonical order. */
export const modelSpecs = (arch: ModelArchitecture): ReadonlyArray<ParameterSpec> => {
  switch (arch.kind) {
    case "transformer":
      return transformerSpecs(arch)
    case "hf":
      return hfParameterSpecs(arch)
    case "mlp":
      return mlpSpecs(arch)
    case "cnn":
      return cnnSpecs(arch)
  }
}

/** How many classes (or vocabulary entries) the model scores at each position. */
export const outputSize = (arch: ModelArchitecture): number => {
  switch (arch.kind) {
    case "transformer":
      return arch.vocabSize
    case "hf":
      // The model's own vocabulary, which may be padded beyond the tokenizer's.
      return hfArchitectureOf(arch).vocabSize
    default:
      return arch.classes
  }
}

/** Number of scalar weights of an architecture. */
export const parameterCount = (arch: ModelArchitecture): number => specsSize(modelSpecs(arch))

/**
 * A model with weights drawn from `seed` (the same seed gives the same weights on every
 * backend); a Hugging Face model's are zero until `loadHfStart` reads them from its directory.
 * Throws when {@link architectureProblem} finds one. Free it with {@link disposeModel}.
 */
export const initModel = (arch: ModelArchitecture, seed: number, trainable = true): ModelParams => {
  const problem = architectureProblem(arch)
  if (problem !== undefined) throw new Error(`Invalid ${arch.kind} architecture: ${problem}`)
  return { architecture: arch, ...initParameters(modelSpecs(arch), seed, trainable) }
}

/** Frees the weights of a model. */
export const disposeModel = (params: ModelParams): void => disposeParameters(params)

const feedMismatch = (arch: ModelArchitecture, feed: ModelFeed): Error =>
  new Error(`A ${arch.kind} model cannot read ${feed.kind}`)

/**
 * Scores [b, positions, outputs]: next-token logits of a transformer, or class logits of a
 * classifier at its one position. Call inside `tf.tidy` (or `tf.variableGrads`).
 */
export const modelLogits = (arch: ModelArchitecture, weight: WeightLookup, feed: ModelFeed): tf.Tensor3D => {
  if (arch.kind === "transformer" || arch.kind === "hf") {
    if (feed.kind !== "tokens") throw feedMismatch(arch, feed)
    return arch.kind === "hf" ? hfLogits(hfArchitectureOf(arch), weight, feed.ids) : transformerLogits(arch, weight, feed.ids)
  }
  if (feed.kind !== "features") throw feedMismatch(arch, feed)
  const logits = arch.kind === "mlp" ? mlpLogits(arch, weight, feed.values) : cnnLogits(arch, weight, feed.values)
  return logits.expandDims(1) as tf.Tensor3D
}

/**
 * `weight` for the steps of one decoding, whose weights do not change: what can be made once
 * for all of them is (a Hugging Face model's tied output layer). Call `dispose` after the last.
 */
export const decodingWeights = (
  arch: LanguageModelArchitecture,
  weight: WeightLookup
): { readonly weight: WeightLookup; readonly dispose: () => void } =>
  arch.kind === "hf" ? fixedOutput(hfArchitectureOf(arch), weight) : { weight, dispose: () => {} }

/**
 * One decoding step of a language model: the next-token logits [b, vocab] of the last of
 * `tokens` [b, t], which follow the positions `past` holds, and every layer's keys and values
 * with `tokens` added. Call inside `tf.tidy`.
 */
export const languageModelStep = (
  arch: LanguageModelArchitecture,
  weight: WeightLookup,
  tokens: tf.Tensor2D,
  past?: ReadonlyArray<LayerCache>
): { readonly logits: tf.Tensor2D; readonly cache: ReadonlyArray<LayerCache> } =>
  arch.kind === "hf" ? hfStep(hfArchitectureOf(arch), weight, tokens, past) : transformerStep(arch, weight, tokens, past)
