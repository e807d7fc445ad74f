import { Effect } from "effect"
import { TrainingBackend, TrainingClient } from "../../ports/index.js"

/**
 * A sampling client over the training client's current weights: saves them for sampling
 * (behind every call submitted before, so the weights include the last optimizer step) and
 * loads them into a sampler that lives until the caller's scope closes. On-policy methods
 * call it each step, within the step's scope.
 */
export const currentPolicySampler = (name: string) =>
  Effect.gen(function*() {
    const client = yield* TrainingClient
    const backend = yield* TrainingBackend
    const weights = yield* Effect.flatMap(client.saveWeightsForSampler(name), (pending) => pending.result)
    return yield* backend.createSamplingClient(weights)
  })
