/**
 * What the hf-model bench measures, shared by its sous worker, the parent that reports and
 * (as JSON) bench/hf-torch-reference.py: the phases, and what a phase reports.
 */

/**
 * The phases, in the order the bench runs them. Each runs in a process of its own, so its
 * memory high-water mark is its own, and a phase that kills the tfjs-wasm module (an
 * exhausted heap aborts it) leaves the others able to run. Training comes last: it is the
 * phase most likely to fail.
 */
export const hfPhases = ["load", "sample", "lora", "full"] as const
export type HfPhase = (typeof hfPhases)[number]

/**
 * One phase's measurement. `seconds` holds one entry per timed item: the load itself, each
 * optimizer step, each sample request; `tokens` the tokens each sample request generated.
 * Memory is taken when the phase ends, its model still alive: `maxRssBytes` the process's
 * resident-set high-water mark, `tensorBytes` what TensorFlow.js holds, `wasmHeapBytes` the
 * size of tfjs-wasm's heap (which never shrinks, and cannot pass 4 GiB).
 */
export interface HfPhaseResult {
  readonly phase: HfPhase
  readonly device?: string
  readonly threads?: number
  readonly seconds: ReadonlyArray<number>
  readonly tokens?: ReadonlyArray<number>
  /** How long creating the phase's client (loading the checkpoint into it) took. */
  readonly setupSeconds?: number
  /** For the training phases: the weights the optimizer updates. */
  readonly trainedParameters?: number
  readonly maxRssBytes: number
  readonly tensorBytes?: number
  readonly wasmHeapBytes?: number
  /** Why the phase did not finish: the error, as the side reported it. */
  readonly failed?: string
}

/** The token ids both sides train and sample on, written by the parent as JSON. */
export interface HfBenchData {
  /** `batch` rows of `length + 1` ids: inputs are all but the last, targets all but the first. */
  readonly rows: ReadonlyArray<ReadonlyArray<number>>
  readonly prompt: ReadonlyArray<number>
}
