import { Context, type Effect } from "effect"
import type { ModelInput } from "./model-input.js"
import type { Pending } from "./pending.js"
import type { SampleResponse, SamplingParams } from "./sampling-params.js"
import type { TrainingCallError } from "./training-client.js"

/** Samples from a fixed set of weights. */
export class SamplingClient extends Context.Service<SamplingClient, {
  /** Draws `numSamples` continuations of `prompt`. */
  readonly sample: (
    prompt: ModelInput,
    numSamples: number,
    params: SamplingParams
  ) => Effect.Effect<Pending<SampleResponse, TrainingCallError>, TrainingCallError>
  /** Log-probability of each prompt token given the ones before it (null for the first). */
  readonly computeLogprobs: (
    prompt: ModelInput
  ) => Effect.Effect<Pending<ReadonlyArray<number | null>, TrainingCallError>, TrainingCallError>
  /**
   * {@link computeLogprobs} of each prompt, answered in order in one result: a backend may
   * score them together (the local one pads them into a few forward passes; a remote one
   * pipelines one request each). A bad prompt fails the submission, naming its index.
   */
  readonly computeLogprobsBatch: (
    prompts: ReadonlyArray<ModelInput>
  ) => Effect.Effect<Pending<ReadonlyArray<ReadonlyArray<number | null>>, TrainingCallError>, TrainingCallError>
}>()("sous/ports/SamplingClient") {}
