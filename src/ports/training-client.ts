import { Context, type Effect, type Scope } from "effect"
import type { AdamParams } from "./adam-params.js"
import type { Datum } from "./datum.js"
import type { InvalidRequestError, TrainingError } from "./errors.js"
import type { ForwardBackwardOutput, LossFnConfig, LossFnType, OptimStepOutput } from "./loss.js"
import type { Pending } from "./pending.js"

/** Errors a training call can end in. */
export type TrainingCallError = TrainingError | InvalidRequestError

/**
 * A saved training state. Local backends hand back the bytes (the checkpoint stage stores
 * them on a `BlobStore`); remote services keep the state and hand back a path.
 */
export type StateRef =
  | { readonly _tag: "Bytes"; readonly bytes: Uint8Array }
  | { readonly _tag: "Remote"; readonly path: string }

/** What a training client runs. */
export interface TrainingClientInfo {
  readonly modelId: string
  readonly baseModel: string
  /** Number of weights the client trains (the adapters alone under LoRA). */
  readonly parameterCount: number
  readonly device: string
}

/**
 * One model being trained. Every call submits at once and returns a {@link Pending};
 * calls run in the order they were submitted.
 */
export class TrainingClient extends Context.Service<TrainingClient, {
  /** Computes the loss and its outputs without gradients. */
  readonly forward: (
    data: ReadonlyArray<Datum>,
    lossFn: LossFnType,
    config?: LossFnConfig
  ) => Effect.Effect<Pending<ForwardBackwardOutput, TrainingCallError>, TrainingCallError>
  /** Computes the loss and adds its gradients to those accumulated since the last step. */
  readonly forwardBackward: (
    data: ReadonlyArray<Datum>,
    lossFn: LossFnType,
    config?: LossFnConfig
  ) => Effect.Effect<Pending<ForwardBackwardOutput, TrainingCallError>, TrainingCallError>
  /** Applies the accumulated gradients with AdamW and clears them. */
  readonly optimStep: (adam: AdamParams) => Effect.Effect<Pending<OptimStepOutput, TrainingCallError>, TrainingCallError>
  /** Saves weights and optimizer state. */
  readonly saveState: (name: string) => Effect.Effect<Pending<StateRef, TrainingCallError>, TrainingCallError>
  /**
   * Optional, for clients that hold the state in their own memory (the local backend): the
   * bytes `saveState` would answer, lent as pieces (the state is their concatenation) for the
   * life of the scope, without joining them into one new array. The client runs no other call
   * until the scope closes, so the pieces hold still while they are written; they must not be
   * used after it. A caller that writes them as they lie (a checkpoint on the filesystem) then
   * saves tens of megabytes without touching fresh memory.
   */
  readonly lendState?: (name: string) => Effect.Effect<ReadonlyArray<Uint8Array>, TrainingCallError, Scope.Scope>
  /** Restores weights, and the optimizer state when `optimizer` is true. */
  readonly loadState: (
    ref: StateRef,
    options: { readonly optimizer: boolean }
  ) => Effect.Effect<Pending<void, TrainingCallError>, TrainingCallError>
  /** Saves the weights in a form a sampling client can load. */
  readonly saveWeightsForSampler: (name: string) => Effect.Effect<Pending<StateRef, TrainingCallError>, TrainingCallError>
  readonly info: Effect.Effect<TrainingClientInfo>
}>()("sous/ports/TrainingClient") {}
