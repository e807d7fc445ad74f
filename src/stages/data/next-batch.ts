import { Effect } from "effect"
import { type Datum, inputLength } from "../../ports/index.js"
import { takeBatch } from "./data-order.js"
import { RunKeys } from "../run/run-keys.js"
import { defineStage } from "../run/stage.js"
import type { StateKey } from "../run/state-key.js"

/** Batch size and data order. */
export interface NextBatchConfig {
  readonly batchSize: number
  readonly seed: number
  readonly shuffle: boolean
  /** Batches of examples of similar length (see `groupByLength`), where the examples have a length. */
  readonly groupByLength?: boolean | undefined
}

/** Where a batch is taken from and put: the examples and the batch keys. */
export interface BatchKeys<A> {
  readonly data: StateKey<ReadonlyArray<A>>
  readonly batch: StateKey<ReadonlyArray<A>>
  /** An example's length, for grouping by length; without it batches are never grouped. */
  readonly lengthOf?: ((example: A) => number) | undefined
}

/** The supervised keys: datums from `trainData` into `batch`, as long as their model input. */
const datumBatches: BatchKeys<Datum> = {
  data: RunKeys.trainData,
  batch: RunKeys.batch,
  lengthOf: (datum) => inputLength(datum.model_input)
}

/**
 * Takes the next batch of examples (datums, preference pairs, prompts) from the data cursor.
 * The order depends only on the seed and the epoch, so the cursor alone lets a resumed run
 * continue with the exact next batch.
 */
export const nextBatch = <A = Datum>(config: NextBatchConfig, keys: BatchKeys<A> = datumBatches as unknown as BatchKeys<A>) => {
  const grouped = config.groupByLength === true && keys.lengthOf !== undefined
  let lengths: ReadonlyArray<number> | undefined
  let lengthsOf: ReadonlyArray<A> | undefined
  return defineStage({
    name: "next-batch",
    description: `take ${config.batchSize} from ${keys.data.name}${config.shuffle ? ", shuffled each epoch" : ""}` +
      (grouped ? ", grouped by length" : ""),
    reads: [keys.data, RunKeys.dataCursor],
    writes: [keys.batch, RunKeys.dataCursor],
    run: (context) =>
      Effect.sync(() => {
        const data = context.get(keys.data)
        // Computed once per data set (the stage may run over several), not once a step.
        if (grouped && lengthsOf !== data) {
          lengths = data.map(keys.lengthOf!)
          lengthsOf = data
        }
        const next = takeBatch(context.get(RunKeys.dataCursor), data.length, config.batchSize, config.seed, config.shuffle, lengths)
        context.set(keys.batch, next.indices.map((index) => data[index]!))
        context.set(RunKeys.dataCursor, next.cursor)
      })
  })
}
