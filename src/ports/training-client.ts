import { Context, type Effect } from "effect"
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
  /** Restores weights, and the optimizer state when `optimizer` is true. */
  readonly loadState: (
    ref: StateRef,
    options: { readonly optimizer: boolean }
  ) => Effect.Effect<Pending<void, TrainingCallError>, TrainingCallError>
  /** Saves the weights in a form a sampling client can load. */
  readonly saveWeightsForSampler: (name: string) => Effect.Effect<Pending<StateRef, TrainingCallError>, TrainingCallError>
  readonly info: Effect.Effect<TrainingClientInfo>
}>()("sous/ports/TrainingClient") {}
