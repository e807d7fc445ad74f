import * as tf from "@tensorflow/tfjs"

/** How a parameter starts: a seeded normal draw, zeros or ones. */
export type Init =
  | { readonly kind: "normal"; readonly std: number }
  | { readonly kind: "zeros" }
  | { readonly kind: "ones" }

/** One parameter of a model: its name, shape and initialisation. */
export interface ParameterSpec {
  readonly name: string
  readonly shape: ReadonlyArray<number>
  readonly init: Init
}

/** Named weights as explicit variables; `names` fixes one order that every file and optimizer follows. */
export interface ParameterSet {
  readonly names: ReadonlyArray<string>
  readonly variables: ReadonlyMap<string, tf.Variable>
}

/** A low-rank adapter on a base weight W [in, out]: the model reads `W + scale · A·B`. */
export interface WeightAdapter {
  readonly base: tf.Tensor2D
  /** [in, rank] */
  readonly a: tf.Tensor2D
  /** [rank, out] */
  readonly b: tf.Tensor2D
  readonly scale: number
}

/**
 * The tensor a model uses for a named weight: a variable, or an expression of several (LoRA).
 * Under LoRA, `adapter` also answers the adapter of a target weight, so a forward pass can
 * add `scale · (x·A)·B` beside `x·W` instead of reading the merged weight (see `projectThrough`).
 */
export type WeightLookup = ((name: string) => tf.Tensor) & {
  readonly adapter?: (name: string) => WeightAdapter | undefined
  /** The output layer [width, vocab], made once for steps over weights that do not change (see `fixedOutput`). */
  readonly unembedding?: tf.Tensor2D
}

export const zeros: Init = { kind: "zeros" }
export const ones: Init = { kind: "ones" }
export const normal = (std: number): Init => ({ kind: "normal", std })

// FNV-1a, so that each parameter draws from its own stream and adding a parameter later
// does not shift the values of the others.
const parameterSeed = (seed: number, name: string): number => {
  let hash = 0x811c9dc5
  for (const char of `${seed}:${name}`) {
    hash ^= char.charCodeAt(0)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash
}

const initialValue = (spec: ParameterSpec, seed: number): tf.Tensor => {
  const shape = [...spec.shape]
  switch (spec.init.kind) {
    case "zeros":
      return tf.zeros(shape)
    case "ones":
      return tf.ones(shape)
    case "normal":
      // tfjs draws seeded random numbers in JavaScript, so every backend gets the same values.
      return tf.randomNormal(shape, 0, spec.init.std, "float32", parameterSeed(seed, spec.name))
  }
}

/**
 * Creates the variables of `specs` with values drawn from `seed`: the same seed gives the
 * same values on every backend. `trainable` marks them for `tf.variableGrads`.
 */
export const initParameters = (specs: ReadonlyArray<ParameterSpec>, seed: number, trainable: boolean): ParameterSet => {
  const variables = new Map<string, tf.Variable>()
  for (const spec of specs) {
    const value = initialValue(spec, seed)
    // Unnamed: tfjs names must be unique per process, and several models may coexist.
    variables.set(spec.name, tf.variable(value, trainable))
    value.dispose()
  }
  return { names: specs.map((spec) => spec.name), variables }
}

/** Number of elements of a tensor of `shape` (1 for a scalar). */
export const shapeSize = (shape: ReadonlyArray<number>): number => shape.reduce((a, b) => a * b, 1)

/** Number of scalar weights of a list of parameters. */
export const specsSize = (specs: ReadonlyArray<ParameterSpec>): number =>
  specs.reduce((total, spec) => total + shapeSize(spec.shape), 0)

/** Frees the variables of a parameter set. */
export const disposeParameters = (parameters: ParameterSet): void => {
  for (const variable of parameters.variables.values()) variable.dispose()
}

/** Looks weights up in a parameter set; a missing name is a bug in the model code, so it throws. */
export const lookupIn = (parameters: ParameterSet): WeightLookup => (name) => {
  const variable = parameters.variables.get(name)
  if (variable === undefined) throw new Error(`Model parameter ${name} is missing`)
  return variable
}
