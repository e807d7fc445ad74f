import { Effect } from "effect"
import { type Datum, DatasetRowError, MetricsSink, Tokenizer } from "../ports/index.js"
import type { ChatRow } from "./chat.js"
import { type ChatFormat, renderChat, type TrainOn } from "./chat-renderer.js"
import { supervisedDatum, trainedTokens } from "./datum-builder.js"
import { RunKeys, type SourcedRow } from "./run-keys.js"
import { defineStage } from "./stage.js"

/** How conversations become training data, and how long training runs. */
export interface RenderChatDataConfig {
  readonly format: ChatFormat
  readonly trainOn: TrainOn
  readonly contextLength: number
  readonly batchSize: number
  /** `steps` sets the length of the run; without it, `epochs` passes over the data (default 1). */
  readonly steps?: number
  readonly epochs?: number
}

const renderRows = Effect.fnUntraced(function*(rows: ReadonlyArray<SourcedRow<ChatRow>>, config: RenderChatDataConfig) {
  const tokenizer = yield* Tokenizer
  const data: Array<Datum> = []
  let truncated = 0
  for (const row of rows) {
    const rendered = yield* renderChat(row.value.messages, tokenizer, config.format, config.trainOn)
    if (rendered.tokens.length > config.contextLength + 1) truncated += 1
    const datum = supervisedDatum(rendered, config.contextLength)
    if (trainedTokens(datum) === 0) {
      return yield* new DatasetRowError({
        uri: row.uri,
        line: row.line,
        message: `no token is trained with trainOn '${config.trainOn}' within ${config.contextLength} tokens`
      })
    }
    data.push(datum)
  }
  // Cutting a conversation changes what is learned; say so instead of doing it quietly.
  if (truncated > 0) {
    yield* Effect.logWarning(`${truncated} of ${rows.length} conversations exceed the context and were cut`).pipe(
      Effect.annotateLogs({ contextLength: config.contextLength })
    )
  }
  return data
})

/**
 * Renders conversations to `cross_entropy` datums and fixes the number of optimizer steps,
 * announcing it in a `schedule` event (progress displays start from it).
 */
export const renderChatData = (config: RenderChatDataConfig) =>
  defineStage({
    name: "render",
    rerunOnResume: true,
    description: `render ${config.format} (train on ${config.trainOn}), context ${config.contextLength}`,
    reads: [RunKeys.trainRows, RunKeys.evalRows],
    writes: [RunKeys.trainData, RunKeys.evalData, RunKeys.totalSteps],
    run: Effect.fnUntraced(function*(context) {
      const train = yield* renderRows(context.get(RunKeys.trainRows), config)
      context.set(RunKeys.trainData, train)
      context.set(RunKeys.evalData, yield* renderRows(context.get(RunKeys.evalRows), config))
      const steps = config.steps ?? Math.max(1, Math.ceil(((config.epochs ?? 1) * train.length) / config.batchSize))
      context.set(RunKeys.totalSteps, steps)
      yield* (yield* MetricsSink).event({
        name: "schedule",
        step: context.step,
        data: { totalSteps: steps, trainExamples: train.length, evalExamples: context.get(RunKeys.evalRows).length }
      })
    })
  })
