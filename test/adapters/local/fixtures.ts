import { Effect } from "effect"
import {
  type Datum,
  float32,
  type LossFnConfig,
  type LossFnType,
  fromInts,
  int64,
  type Pending,
  type StateRef,
  type TrainingBackend,
  type TrainingClient,
  type TransformerArchitecture
} from "../../../src/ports/index.js"
import { decodeState } from "../../../src/adapters/local/state-codec.js"

/** A model small enough to train in milliseconds on a 2-core CPU. */
export const tinyArchitecture: TransformerArchitecture = {
  kind: "transformer",
  vocabSize: 16,
  contextLength: 8,
  width: 16,
  layers: 2,
  heads: 2
}

/** The datum that trains `tokens[1:]` on `tokens[:-1]` (weights default to 1). */
export const sequenceDatum = (tokens: ReadonlyArray<number>, weights?: ReadonlyArray<number>): Datum => ({
  model_input: fromInts(tokens.slice(0, -1)),
  loss_fn_inputs: {
    target_tokens: int64(tokens.slice(1)),
    weights: float32(weights ?? tokens.slice(1).map(() => 1))
  }
})

/** Four sequences of different lengths (so the batch is padded). */
export const fixedBatch: ReadonlyArray<Datum> = [
  sequenceDatum([1, 2, 3, 4, 5, 6, 7, 8, 9]),
  sequenceDatum([3, 1, 4, 1, 5, 9, 2]),
  sequenceDatum([2, 7, 1, 8, 2]),
  sequenceDatum([9, 8, 7, 6, 5, 4, 3, 2, 1])
]

/** A training client of the tiny model. */
export const tinyClient = (backend: TrainingBackend["Service"], seed: number) =>
  backend.createTrainingClient({ baseModel: "tiny", architecture: tinyArchitecture, seed })

/** Submits a two-phase call and waits for its result. */
export const awaitCall = <A, E>(submit: Effect.Effect<Pending<A, E>, E>): Effect.Effect<A, E> =>
  Effect.flatMap(submit, (pending) => pending.result)

/** The bytes of a state saved by the local backend, which always answers with bytes. */
export const bytesOf = (ref: StateRef): Uint8Array => {
  if (ref._tag !== "Bytes") throw new Error("expected bytes")
  return ref.bytes
}

/** The raw bytes of a client's weights (every parameter, in order). */
export const weightBytes = (client: TrainingClient["Service"]) =>
  Effect.map(awaitCall(client.saveWeightsForSampler("probe")), (ref) => new Uint8Array(decodeState(bytesOf(ref)).data))

/** A client's weights as numbers (every parameter, in order). */
export const weightValues = (client: TrainingClient["Service"]) =>
  Effect.map(weightBytes(client), (bytes) => new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4))

/** Largest absolute difference between two equally long arrays. */
export const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`)
  let max = 0
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!))
  return max
}

/** Every protocol loss with a config it accepts (DRO needs its beta). */
export const everyLoss: ReadonlyArray<readonly [LossFnType, LossFnConfig]> = [
  ["cross_entropy", {}],
  ["importance_sampling", {}],
  ["ppo", {}],
  ["cispo", {}],
  ["dro", { beta: 0.5 }]
]
