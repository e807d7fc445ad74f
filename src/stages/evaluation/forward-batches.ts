import { Effect } from "effect"
import { type Datum, type ForwardBackwardOutput, TrainingClient } from "../../ports/index.js"

/**
 * `cross_entropy` forward passes over `data` in batches of `batchSize`, every batch submitted
 * before any is awaited so a remote service can pipeline them. Answers the outputs in order.
 */
export const forwardInBatches = (data: ReadonlyArray<Datum>, batchSize: number) =>
  Effect.gen(function*() {
    const client = yield* TrainingClient
    const pending = []
    for (let start = 0; start < data.length; start += batchSize) {
      pending.push(yield* client.forward(data.slice(start, start + batchSize), "cross_entropy"))
    }
    const outputs: Array<ForwardBackwardOutput> = []
    for (const request of pending) outputs.push(yield* request.result)
    return outputs
  })
