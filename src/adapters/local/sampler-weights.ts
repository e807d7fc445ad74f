import * as tf from "@tensorflow/tfjs"
import type { TransformerArchitecture } from "../../ports/index.js"
import { architectureProblem, modelSpecs } from "./model.js"
import type { ParameterSet } from "./parameters.js"
import { type DecodedState, decodeStateTensors } from "./state-codec.js"
import { paramKey } from "./trainer-state.js"

/** A frozen transformer to sample from. */
export interface SamplerParams extends ParameterSet {
  readonly architecture: TransformerArchitecture
}

/** Why saved weights cannot make a model to sample from, or `undefined` when they can. */
export const samplerWeightsProblem = (state: DecodedState): string | undefined => {
  const { architecture, tensors, lora } = state.header
  if (architecture.kind !== "transformer") return `sampling needs a transformer; "${state.header.name}" is a ${architecture.kind}`
  if (lora !== undefined) return `"${state.header.name}" holds LoRA adapters alone; sample from saveWeightsForSampler's merged weights`
  const problem = architectureProblem(architecture)
  if (problem !== undefined) return problem
  const shapes = new Map(tensors.map((t) => [t.name, t.shape.join("x")]))
  for (const spec of modelSpecs(architecture)) {
    const key = paramKey(spec.name)
    const shape = shapes.get(key)
    const expected = spec.shape.join("x")
    if (shape === undefined) return `the state has no tensor ${key}`
    if (shape !== expected) return `tensor ${key} has shape ${shape}, the model needs ${expected}`
  }
  return undefined
}

/**
 * A frozen model (non-trainable variables) from saved weights that
 * {@link samplerWeightsProblem} accepted. Free it with `disposeParameters`.
 */
export const samplerParams = (state: DecodedState): SamplerParams => {
  const architecture = state.header.architecture
  if (architecture.kind !== "transformer") throw new Error(`sampling needs a transformer, not a ${architecture.kind}`)
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
