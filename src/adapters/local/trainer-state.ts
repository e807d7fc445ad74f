import type * as tf from "@tensorflow/tfjs"
import { type DecodedState, decodeStateTensors, encodeState } from "./state-codec.js"
import { clearGradients, type LocalTrainer, resetOptimizer } from "./local-trainer.js"

/** The name of a model weight inside a state file (moments are `adam_m/…`, `adam_v/…`). */
export const paramKey = (name: string) => `params/${name}`
const firstMomentKey = (name: string) => `adam_m/${name}`
const secondMomentKey = (name: string) => `adam_v/${name}`

const sameArchitecture = (a: object, b: object): boolean =>
  JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort())

/**
 * Saves the trainer: weights, plus the AdamW moments and step count when `kind` is `state`.
 * Accumulated gradients are not saved: a checkpoint is taken between optimizer steps.
 */
export const saveTrainer = (trainer: LocalTrainer, name: string, kind: "state" | "weights"): Promise<Uint8Array> => {
  const { params, optimizer } = trainer
  const tensors: Array<{ name: string; tensor: tf.Tensor }> = params.names.map((n) => ({
    name: paramKey(n),
    tensor: params.variables.get(n)!
  }))
  if (kind === "state") {
    for (const n of params.names) {
      tensors.push(
        { name: firstMomentKey(n), tensor: optimizer.m.get(n)! },
        { name: secondMomentKey(n), tensor: optimizer.v.get(n)! }
      )
    }
  }
  return encodeState({ name, kind, architecture: params.architecture, step: optimizer.step, tensors })
}

/**
 * Why a decoded state cannot be loaded into this trainer, or `undefined` when it can: the
 * architecture must match, and optimizer state must be present when it is asked for.
 */
export const stateProblem = (trainer: LocalTrainer, state: DecodedState, optimizer: boolean): string | undefined => {
  const { architecture, names, variables } = trainer.params
  const { header } = state
  if (!sameArchitecture(header.architecture, architecture)) {
    return `the state is of architecture ${JSON.stringify(header.architecture)}, ` +
      `the model is ${JSON.stringify(architecture)}`
  }
  if (optimizer && header.kind !== "state") return `"${header.name}" holds weights only, no optimizer state`
  const shapes = new Map(header.tensors.map((t) => [t.name, t.shape.join("x")]))
  for (const n of names) {
    const expected = variables.get(n)!.shape.join("x")
    const keys = optimizer ? [paramKey(n), firstMomentKey(n), secondMomentKey(n)] : [paramKey(n)]
    for (const key of keys) {
      const shape = shapes.get(key)
      if (shape === undefined) return `the state has no tensor ${key}`
      if (shape !== expected) return `tensor ${key} has shape ${shape}, the model needs ${expected}`
    }
  }
  return undefined
}

/**
 * Loads a state that {@link stateProblem} accepted: the weights, and the optimizer state when
 * `optimizer` is true (otherwise the optimizer starts afresh). Accumulated gradients are cleared.
 */
export const restoreTrainer = (trainer: LocalTrainer, state: DecodedState, optimizer: boolean): void => {
  const tensors = decodeStateTensors(state)
  try {
    for (const n of trainer.params.names) {
      trainer.params.variables.get(n)!.assign(tensors[paramKey(n)]!)
      if (optimizer) {
        trainer.optimizer.m.get(n)!.assign(tensors[firstMomentKey(n)]!)
        trainer.optimizer.v.get(n)!.assign(tensors[secondMomentKey(n)]!)
      }
    }
  } finally {
    for (const tensor of Object.values(tensors)) tensor.dispose()
  }
  if (optimizer) trainer.optimizer.step = state.header.step
  else resetOptimizer(trainer)
  clearGradients(trainer)
}
