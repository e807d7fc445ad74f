import * as tf from "@tensorflow/tfjs"
import { isLanguageModel, type LanguageModelArchitecture } from "../../ports/index.js"
import { architectureProblem } from "./architecture-problem.js"
import { modelSpecs } from "./model.js"
import type { ParameterSet } from "./parameters.js"
import { type DecodedState, decodeStateTensors, tensorShapesProblem } from "./state-codec.js"
import { paramKey } from "./trainer-state.js"

/** A frozen language model to sample from. */
export interface SamplerParams extends ParameterSet {
  readonly architecture: LanguageModelArchitecture
}

/** Why saved weights cannot make a model to sample from, or `undefined` when they can. */
export const samplerWeightsProblem = (state: DecodedState): string | undefined => {
  const { architecture, lora } = state.header
  if (!isLanguageModel(architecture)) return `sampling needs a language model; "${state.header.name}" is a ${architecture.kind}`
  if (lora !== undefined) return `"${state.header.name}" holds LoRA adapters alone; sample from saveWeightsForSampler's merged weights`
  return architectureProblem(architecture) ??
    tensorShapesProblem(state, modelSpecs(architecture).map((spec) => [paramKey(spec.name), spec.shape]))
}

/**
 * A frozen model (non-trainable variables) from saved weights that
 * {@link samplerWeightsProblem} accepted. Free it with `disposeParameters`.
 */
export const samplerParams = (state: DecodedState): SamplerParams => {
  const architecture = state.header.architecture
  if (!isLanguageModel(architecture)) throw new Error(`sampling needs a language model, not a ${architecture.kind}`)
  const tensors = decodeStateTensors(state)
  const specs = modelSpecs(architecture)
  const variables = new Map<string, tf.Variable>()
  try {
    for (const spec of specs) variables.set(spec.name, tf.variable(tensors[paramKey(spec.name)]!, false))
  } finally {
    for (const tensor of Object.values(tensors)) tensor.dispose()
  }
  return { architecture, names: specs.map((spec) => spec.name), variables }
}
