import { Context } from "effect"
import type { BaseModelSource } from "./training-backend.js"
import type { StateRef } from "./training-client.js"

/** Weights a sampling client can be created from, and words for them in logs and plans. */
export interface WeightsSource {
  /** A checkpoint's saved state, or a base model (the local backend builds it from its seed). */
  readonly source: StateRef | BaseModelSource
  /** Where the weights come from, e.g. `checkpoint final of runs/sft/checkpoints`. */
  readonly description: string
}

/**
 * The weights the run started from (`model.from`, or the base model): the frozen reference
 * of DPO and of the KL penalty in RL. The kitchen provides it; it never changes during a run,
 * so a resumed run sees the same reference.
 */
export class StartingWeights extends Context.Service<StartingWeights, WeightsSource>()("sous/ports/StartingWeights") {}

/** The teacher a distillation run learns from. */
export class TeacherWeights extends Context.Service<TeacherWeights, WeightsSource>()("sous/ports/TeacherWeights") {}
