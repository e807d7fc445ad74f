import type { Datum } from "../../ports/index.js"
import type { CompletionPrompt } from "../rendering/completion-prompt.js"
import type { ReverseKlTally } from "./reverse-kl.js"
import { stateKey } from "../run/state-key.js"

/** One on-policy step's student samples, scored by the teacher, as datums and sums. */
export interface DistillRollouts {
  /** `importance_sampling` datums: each sampled token's advantage is its negative reverse KL. */
  readonly datums: ReadonlyArray<Datum>
  readonly tally: ReverseKlTally
  readonly samples: number
  /** Samples that ended with the turn's end marker (the rest ran out of tokens). */
  readonly finished: number
}

/** The run-state keys of the distill workflow. */
export const DistillKeys = {
  /** Rendered prompts of the training rows: what the student (or the teacher) replies to. */
  trainPrompts: stateKey<ReadonlyArray<CompletionPrompt>>("trainPrompts"),
  /** Rendered prompts of the held-out rows, for the reverse-KL evaluation. */
  evalPrompts: stateKey<ReadonlyArray<CompletionPrompt>>("evalPrompts"),
  /** The prompts of the current step. */
  promptBatch: stateKey<ReadonlyArray<CompletionPrompt>>("promptBatch"),
  /** The current on-policy step's scored samples. */
  rollouts: stateKey<DistillRollouts>("distillRollouts")
} as const
