import { Context, type Effect, type Scope } from "effect"
import type { BackendUnavailableError, InvalidRequestError, TrainingError } from "./errors.js"
import type { LossFnType } from "./loss.js"
import type { ModelArchitecture } from "./model-architecture.js"
import type { SamplingClient } from "./sampling-client.js"
import type { StateRef, TrainingClient } from "./training-client.js"

/**
 * Low-rank adapter settings (protocol `LoraConfig`). Adapters are scaled by `alpha / rank`
 * (`alpha` defaults to 32, a sous addition); each `train*` flag defaults to true.
 */
export interface LoraConfig {
  readonly rank: number
  readonly alpha?: number
  readonly trainAttn?: boolean
  readonly trainMlp?: boolean
  readonly trainUnembed?: boolean
  /**
   * The modules that get adapters, by their Hugging Face names (`q_proj`, `c_attn`, ...), for
   * Hugging Face models; absent, they follow `trainAttn` and `trainMlp`. A sous extension.
   */
  readonly targets?: ReadonlyArray<string>
}

/** What to train. `architecture` is read by backends that build models from scratch. */
export interface TrainingClientConfig {
  readonly baseModel: string
  readonly architecture?: ModelArchitecture
  readonly seed: number
  readonly lora?: LoraConfig
}

/**
 * A base model to sample from. Remote services know their base models by name; backends
 * that build models from scratch (the local one) read `architecture` and `seed` instead.
 */
export interface BaseModelSource {
  readonly baseModel: string
  readonly architecture?: ModelArchitecture
  readonly seed?: number
}

/** What a backend can do, so a workflow can refuse a recipe before it runs. */
export interface BackendCapabilities {
  readonly backend: string
  readonly device: string
  /** Why this device runs (what was asked for, what was tried), where the backend chose one. */
  readonly deviceReason?: string
  readonly losses: ReadonlyArray<LossFnType>
  readonly maxLoraRank: number
  readonly customLoss: boolean
  readonly sampling: boolean
  readonly durableCheckpoints: boolean
}

/** Creates training and sampling clients: the entry point of a training service. */
export class TrainingBackend extends Context.Service<TrainingBackend, {
  /**
   * A client training one model. The model (its weights and optimizer state, on a device for
   * a local backend; on the service for a remote one) is freed when the caller's scope
   * closes, so a server that creates a model per run does not keep every run's.
   */
  readonly createTrainingClient: (
    config: TrainingClientConfig
  ) => Effect.Effect<TrainingClient["Service"], TrainingError | InvalidRequestError | BackendUnavailableError, Scope.Scope>
  /**
   * A client sampling from fixed weights. It holds them (on a device, for a local backend)
   * until the caller's scope closes, so a loop that refreshes its sampler every step frees
   * each one with the scope of its step.
   */
  readonly createSamplingClient: (
    source: StateRef | BaseModelSource
  ) => Effect.Effect<SamplingClient["Service"], TrainingError | InvalidRequestError | BackendUnavailableError, Scope.Scope>
  readonly capabilities: Effect.Effect<BackendCapabilities>
}>()("sous/ports/TrainingBackend") {}
