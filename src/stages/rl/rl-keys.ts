import type { Datum, Metrics, StateRef } from "../../ports/index.js"
import type { SourcedRow } from "../run/run-keys.js"
import { stateKey } from "../run/state-key.js"

/** One step's rollouts as training data, and what the step measured while sampling them. */
export interface RolloutBatch {
  /** `importance_sampling` / `ppo` datums of the kept groups (none when every group was dropped). */
  readonly datums: ReadonlyArray<Datum>
  /** Tokens the datums train (sampled tokens of the kept groups), the loss's denominator. */
  readonly trainedTokens: number
  /** Reward, groups kept and dropped, tokens sampled, ... (see `rlRollouts`). */
  readonly metrics: Metrics
}

/** The weights the rollout sampler was last made from, and the step they are of. */
export interface SamplerWeights {
  readonly weights: StateRef
  readonly step: number
}

/** The run-state keys of the rl workflow. */
export const RlKeys = {
  /** Training rows, each handed to the environment factory for an episode. */
  trainPrompts: stateKey<ReadonlyArray<SourcedRow<unknown>>>("rlTrainPrompts"),
  /** Held-out rows, for the sampled evaluation. */
  evalPrompts: stateKey<ReadonlyArray<SourcedRow<unknown>>>("rlEvalPrompts"),
  /** The rows of the current step. */
  promptBatch: stateKey<ReadonlyArray<SourcedRow<unknown>>>("rlPromptBatch"),
  /** The current step's rollouts. */
  rollouts: stateKey<RolloutBatch>("rlRollouts"),
  /**
   * What the sampler is made from while it may be stale (`rl.maxStaleness` > 0). Not kept in
   * checkpoints: loading the prompts sets it to null, so a fresh or resumed run makes its
   * first sampler from the weights it has.
   */
  samplerWeights: stateKey<SamplerWeights | null>("rlSamplerWeights")
} as const
