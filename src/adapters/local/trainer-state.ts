import * as tf from "@tensorflow/tfjs"
import { createHash } from "node:crypto"
import {
  type DecodedState,
  decodeStateTensors,
  encodeState,
  encodeStatePieces,
  readStateValues,
  type StateContents,
  type LoraHeader,
  tensorShapesProblem
} from "./state-codec.js"
import { clearGradients, type LocalTrainer, resetOptimizer } from "./local-trainer.js"
import { mergeLora } from "./lora.js"
import { withFloat32Values } from "./tensor-memory.js"
import type { ParameterSet } from "./parameters.js"

/** The name of a model weight inside a state file (adapters are `lora/…`, moments `adam_m/…`, `adam_v/…`). */
export const paramKey = (name: string) => `params/${name}`
const adapterKey = (name: string) => `lora/${name}`
const firstMomentKey = (name: string) => `adam_m/${name}`
const secondMomentKey = (name: string) => `adam_v/${name}`

const sameJson = (a: object, b: object): boolean =>
  JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort())

/**
 * SHA-256 of a parameter set's values in order: adapters record the base they were trained
 * on, so loading them onto other base weights is refused instead of silently wrong.
 */
const parametersDigest = (parameters: ParameterSet): string => {
  const hash = createHash("sha256")
  for (const name of parameters.names) withFloat32Values(parameters.variables.get(name)!, (values) => hash.update(values))
  return hash.digest("hex")
}

const loraHeader = (trainer: LocalTrainer): LoraHeader | undefined =>
  trainer.lora === undefined ? undefined : { ...trainer.lora.settings, baseDigest: parametersDigest(trainer.model) }

/** Where the trained weights live in a state file: the model's `params/…`, or LoRA's `lora/…`. */
const trainedKey = (trainer: LocalTrainer) => trainer.lora === undefined ? paramKey : adapterKey

/**
 * Saves the trainer. A `state` holds what is trained (the model, or the adapters alone with
 * a digest of their base) and the AdamW moments and step count; `weights` (for samplers)
 * holds the model's weights, with adapters merged in. Accumulated gradients are not saved:
 * a checkpoint is taken between optimizer steps.
 */
export const saveTrainer = async (trainer: LocalTrainer, name: string, kind: "state" | "weights"): Promise<Uint8Array> => {
  const { model, optimizer } = trainer
  if (kind === "weights") {
    const merged = trainer.lora === undefined
      ? model.names.map((n) => ({ name: n, tensor: model.variables.get(n)! as tf.Tensor }))
      : mergeLora(model, trainer.lora)
    try {
      return encodeState({
        name,
        kind,
        architecture: model.architecture,
        step: optimizer.step,
        tensors: merged.map((t) => ({ name: paramKey(t.name), tensor: t.tensor }))
      })
    } finally {
      if (trainer.lora !== undefined) tf.dispose(merged.map((t) => t.tensor))
    }
  }
  return encodeState(trainingState(trainer, name))
}

/** What a `state` holds: the trained weights, their AdamW moments, the step and the LoRA header. */
const trainingState = (trainer: LocalTrainer, name: string): StateContents => {
  const { trained, optimizer } = trainer
  const key = trainedKey(trainer)
  const tensors = trained.names.flatMap((n) => {
    const variable = trained.variables.get(n)!
    const { shape } = variable
    return [
      { name: key(n), tensor: variable as tf.Tensor },
      { name: firstMomentKey(n), tensor: { shape, values: optimizer.m.get(n)! } },
      { name: secondMomentKey(n), tensor: { shape, values: optimizer.v.get(n)! } }
    ]
  })
  return { name, kind: "state", architecture: trainer.model.architecture, step: optimizer.step, tensors, lora: loraHeader(trainer) }
}

/**
 * The `state` {@link saveTrainer} encodes, as the pieces of `encodeStatePieces`: the weights
 * copied into `staging`, the moments lent as they lie. Valid until the trainer next steps or
 * loads, or `staging` is reused.
 */
export const trainerStatePieces = (trainer: LocalTrainer, name: string, staging: (length: number) => Float32Array): Array<Uint8Array> =>
  encodeStatePieces(trainingState(trainer, name), staging)

/** The weights a load writes: (state key, variable) pairs. */
const weightTargets = (trainer: LocalTrainer, state: DecodedState): Array<[string, tf.Variable]> => {
  if (state.header.lora === undefined && trainer.lora !== undefined) {
    // Full weights into a LoRA client: they become its frozen base.
    return trainer.model.names.map((n) => [paramKey(n), trainer.model.variables.get(n)!])
  }
  const key = trainedKey(trainer)
  return trainer.trained.names.map((n) => [key(n), trainer.trained.variables.get(n)!])
}

/** The moments a load with optimizer state writes: (state key, shape, values) triples. */
const momentTargets = (trainer: LocalTrainer): Array<[string, ReadonlyArray<number>, Float32Array]> =>
  trainer.trained.names.flatMap((n) => {
    const { shape } = trainer.trained.variables.get(n)!
    return [
      [firstMomentKey(n), shape, trainer.optimizer.m.get(n)!],
      [secondMomentKey(n), shape, trainer.optimizer.v.get(n)!]
    ] as Array<[string, ReadonlyArray<number>, Float32Array]>
  })

/**
 * Why a decoded state cannot be loaded into this trainer, or `undefined` when it can, as far
 * as the trainer's fixed setup decides (so it is checked when the load is submitted): the
 * architecture must match; adapters need a LoRA trainer with the same settings; full weights
 * load into a LoRA trainer only as its base, without optimizer state; optimizer state must be
 * present when it is asked for; every tensor must be there, of its shape. The base that
 * adapters need is {@link baseProblem}'s to check.
 */
export const stateProblem = (trainer: LocalTrainer, state: DecodedState, optimizer: boolean): string | undefined => {
  const { header } = state
  const architecture = trainer.model.architecture
  if (!sameJson(header.architecture, architecture)) {
    return `the state is of architecture ${JSON.stringify(header.architecture)}, ` +
      `the model is ${JSON.stringify(architecture)}`
  }
  if (optimizer && header.kind !== "state") return `"${header.name}" holds weights only, no optimizer state`
  if (header.lora !== undefined) {
    if (trainer.lora === undefined) return `"${header.name}" holds LoRA adapters; load it into a LoRA client`
    // The settings alone: the base digest is baseProblem's to check, when the load runs.
    const { baseDigest, ...settings } = header.lora
    if (!sameJson(settings, trainer.lora.settings)) {
      return `"${header.name}" holds adapters of ${JSON.stringify(settings)}, ` +
        `the client trains ${JSON.stringify(trainer.lora.settings)}`
    }
  } else if (trainer.lora !== undefined && optimizer) {
    return `"${header.name}" holds full weights, which load into a LoRA client as its base, without optimizer state`
  }
  return tensorShapesProblem(state, [
    ...weightTargets(trainer, state).map(([key, variable]) => [key, variable.shape] as const),
    ...(optimizer ? momentTargets(trainer).map(([key, shape]) => [key, shape] as const) : [])
  ])
}

/**
 * Why adapters cannot load onto the trainer's base as it is now (they were trained on other
 * base weights), or `undefined` when they can or the state holds no adapters. The base is
 * what a load before this one may replace, so a queued load is checked when it runs.
 */
export const baseProblem = (trainer: LocalTrainer, state: DecodedState): string | undefined => {
  const { name, lora } = state.header
  return lora === undefined || lora.baseDigest === parametersDigest(trainer.model)
    ? undefined
    : `"${name}" holds adapters trained on other base weights; load that base first`
}

/**
 * Loads a state that {@link stateProblem} and {@link baseProblem} accepted: the trained
 * weights (or a LoRA client's base, whose adapters then restart at zero effect) and the
 * optimizer state when `optimizer` is true (otherwise the optimizer starts afresh).
 * Accumulated gradients are cleared.
 */
export const restoreTrainer = (trainer: LocalTrainer, state: DecodedState, optimizer: boolean): void => {
  const targets = weightTargets(trainer, state)
  const tensors = decodeStateTensors(state, new Set(targets.map(([key]) => key)))
  try {
    for (const [key, variable] of targets) variable.assign(tensors[key]!)
  } finally {
    for (const tensor of Object.values(tensors)) tensor.dispose()
  }
  if (optimizer) readStateValues(state, momentTargets(trainer).map(([key, , values]) => [key, values] as const))
  if (state.header.lora === undefined && trainer.lora !== undefined) {
    // A new base: zero B so the adapters add nothing until trained again.
    tf.tidy(() => {
      for (const [name, variable] of trainer.lora!.variables) {
        if (name.endsWith(".lora_b")) variable.assign(tf.zerosLike(variable))
      }
    })
  }
  if (optimizer) trainer.optimizer.step = state.header.step
  else resetOptimizer(trainer)
  clearGradients(trainer)
}
