import { Effect } from "effect"
import { takeBatch } from "./data-order.js"
import { RunKeys } from "./run-keys.js"
import { defineStage } from "./stage.js"

/** Batch size and data order. */
export interface NextBatchConfig {
  readonly batchSize: number
  readonly seed: number
  readonly shuffle: boolean
}

/**
 * Takes the next batch from the data cursor. The order depends only on the seed and the
 * epoch, so the cursor alone lets a resumed run continue with the exact next batch.
 */
export const nextBatch = (config: NextBatchConfig) =>
  defineStage({
    name: "next-batch",
    description: `take ${config.batchSize} examples${config.shuffle ? ", shuffled each epoch" : ""}`,
    reads: [RunKeys.trainData, RunKeys.dataCursor],
    writes: [RunKeys.batch, RunKeys.dataCursor],
    run: (context) =>
      Effect.sync(() => {
        const data = context.get(RunKeys.trainData)
        const next = takeBatch(context.get(RunKeys.dataCursor), data.length, config.batchSize, config.seed, config.shuffle)
        context.set(RunKeys.batch, next.indices.map((index) => data[index]!))
        context.set(RunKeys.dataCursor, next.cursor)
      })
  })
