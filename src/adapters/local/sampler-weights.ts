import * as tf from "@tensorflow/tfjs"
import { type DecodedState, decodeStateTensors } from "./state-codec.js"
import { paramKey } from "./trainer-state.js"
import { architectureProblem, parameterSpecs, type TransformerParams } from "./transformer.js"

/** Why saved weights cannot make a model, or `undefined` when they can. */
export const samplerWeightsProblem = (state: DecodedState): string | undefined => {
  const { architecture, tensors } = state.header
  const problem = architectureProblem(architecture)
  if (problem !== undefined) return problem
  const shapes = new Map(tensors.map((t) => [t.name, t.shape.join("x")]))
  for (const spec of parameterSpecs(architecture)) {
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
 * {@link samplerWeightsProblem} accepted. Free it with `disposeTransformer`.
 */
export const samplerParams = (state: DecodedState): TransformerParams => {
  const tensors = decodeStateTensors(state)
  const specs = parameterSpecs(state.header.architecture)
  const variables = new Map<string, tf.Variable>()
  try {
    for (const spec of specs) variables.set(spec.name, tf.variable(tensors[paramKey(spec.name)]!, false))
  } finally {
    for (const tensor of Object.values(tensors)) tensor.dispose()
  }
  return { architecture: state.header.architecture, names: specs.map((spec) => spec.name), variables }
}
