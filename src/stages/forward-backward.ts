import { Effect } from "effect"
import { TrainingClient } from "../ports/index.js"
import { trainedTokens } from "./datum-builder.js"
import { RunKeys } from "./run-keys.js"
import { defineStage } from "./stage.js"

/**
 * Submits forward/backward for the batch and does not wait: the optimizer-step stage queues
 * its step behind it first, so a remote service can run both in one clock cycle.
 */
export const forwardBackward = defineStage({
  name: "forward-backward",
  description: "submit forward/backward (cross_entropy)",
  reads: [RunKeys.batch],
  writes: [RunKeys.inFlight],
  run: Effect.fnUntraced(function*(context) {
    const client = yield* TrainingClient
    const batch = context.get(RunKeys.batch)
    const submittedAt = performance.now()
    const pending = yield* client.forwardBackward(batch, "cross_entropy")
    const tokens = batch.reduce((total, datum) => total + trainedTokens(datum), 0)
    context.set(RunKeys.inFlight, { pending, submittedAt, tokens })
  })
})
