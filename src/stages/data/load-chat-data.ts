import { Effect, Stream } from "effect"
import { ChatRow, DatasetError, DatasetSource } from "../../ports/index.js"
import { trainEvalSplit } from "./data-order.js"
import { RunKeys, type SourcedRow } from "../run/run-keys.js"
import { defineStage } from "../run/stage.js"

/** Where the chat data comes from. Without an eval URI, `evalFraction` of train is held out. */
export interface LoadChatDataConfig {
  readonly train: string
  readonly eval?: string
  readonly evalFraction: number
  readonly seed: number
}

const readRows = Effect.fnUntraced(function*(uri: string) {
  const source = yield* DatasetSource
  const rows = yield* Stream.runCollect(source.rows(uri, ChatRow))
  if (rows.length === 0) return yield* new DatasetError({ uri, message: "the dataset has no rows" })
  return rows.map((row): SourcedRow<ChatRow> => ({ ...row, uri }))
})

/** Reads and validates the train and held-out chat rows; a bad row fails with its file and line. */
export const loadChatData = (config: LoadChatDataConfig) =>
  defineStage({
    name: "load-data",
    rerunOnResume: true,
    description: config.eval === undefined
      ? `read ${config.train}, hold out ${Number((config.evalFraction * 100).toPrecision(3))}% for eval`
      : `read ${config.train}, eval on ${config.eval}`,
    reads: [],
    writes: [RunKeys.trainRows, RunKeys.evalRows],
    run: Effect.fnUntraced(function*(context) {
      const { train, eval: held } = yield* trainEvalSplit(yield* readRows(config.train), config, readRows)
      context.set(RunKeys.trainRows, train)
      context.set(RunKeys.evalRows, held)
      yield* Effect.logInfo("dataset loaded").pipe(Effect.annotateLogs({ train: train.length, eval: held.length }))
    })
  })
