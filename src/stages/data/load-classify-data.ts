import { Effect, Schema, Stream } from "effect"
import { DatasetError, DatasetRowError, DatasetSource, type Datum, float32, fromFloats, int64 } from "../../ports/index.js"
import { trainEvalSplit } from "./data-order.js"
import type { LoadChatDataConfig } from "./load-chat-data.js"
import { fixRunLength, type RunLength } from "../run/run-length.js"
import { RunKeys } from "../run/run-keys.js"
import { defineStage } from "../run/stage.js"

/** One row of a classification dataset: the input's features, flattened, and its class. */
export const ClassifyRow = Schema.Struct({
  features: Schema.Array(Schema.Finite),
  label: Schema.Int
})
export type ClassifyRow = typeof ClassifyRow.Type

/** The shape every row's features take and how many classes its label picks from. */
export interface ClassifyShape {
  readonly inputShape: ReadonlyArray<number>
  readonly classes: number
}

/** What is wrong with `row` for `shape`, or undefined when it fits. */
export const classifyRowProblem = (row: ClassifyRow, shape: ClassifyShape): string | undefined => {
  const size = shape.inputShape.reduce((total, dim) => total * dim, 1)
  if (row.features.length !== size) {
    return `expected ${size} features (inputShape ${JSON.stringify(shape.inputShape)}), got ${row.features.length}`
  }
  if (row.label < 0 || row.label >= shape.classes) return `label must be in [0, ${shape.classes}), got ${row.label}`
  return undefined
}

/** Where the classification data comes from; without an eval URI, `evalFraction` of train is held out. */
export interface LoadClassifyDataConfig extends ClassifyShape, LoadChatDataConfig, RunLength {}

/**
 * The rows of `uri` as classifier datums (a `float_tensor` input, the label as the one target),
 * failing on the first row that does not fit the shape, with its file and line.
 */
export const readClassifyData = Effect.fnUntraced(function*(uri: string, shape: ClassifyShape) {
  const source = yield* DatasetSource
  const rows = yield* Stream.runCollect(source.rows(uri, ClassifyRow))
  if (rows.length === 0) return yield* new DatasetError({ uri, message: "the dataset has no rows" })
  const data: Array<Datum> = []
  for (const row of rows) {
    const problem = classifyRowProblem(row.value, shape)
    if (problem !== undefined) return yield* new DatasetRowError({ uri, line: row.line, message: problem })
    data.push({
      model_input: fromFloats(row.value.features, shape.inputShape),
      loss_fn_inputs: { target_tokens: int64([row.value.label]), weights: float32([1]) }
    })
  }
  return data
})

/**
 * Reads and checks the train and held-out rows, turns them into datums and fixes the number
 * of optimizer steps, announcing it in a `schedule` event (progress displays start from it).
 */
export const loadClassifyData = (config: LoadClassifyDataConfig) =>
  defineStage({
    name: "load-data",
    rerunOnResume: true,
    description: `read ${config.train} (features of shape ${JSON.stringify(config.inputShape)}, ${config.classes} classes)${
      config.eval === undefined
        ? `, hold out ${Number((config.evalFraction * 100).toPrecision(3))}% for eval`
        : `, eval on ${config.eval}`
    }`,
    reads: [],
    writes: [RunKeys.trainData, RunKeys.evalData, RunKeys.totalSteps],
    run: Effect.fnUntraced(function*(context) {
      const all = yield* readClassifyData(config.train, config)
      const { train, eval: held } = yield* trainEvalSplit(all, config, (uri) => readClassifyData(uri, config))
      context.set(RunKeys.trainData, train)
      context.set(RunKeys.evalData, held)
      yield* Effect.logInfo("dataset loaded").pipe(Effect.annotateLogs({ train: train.length, eval: held.length }))
      yield* fixRunLength(context, config, train.length, held.length)
    })
  })
