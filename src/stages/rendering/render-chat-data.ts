import { Effect } from "effect"
import { type ChatRow, DatasetRowError, type Datum, Tokenizer } from "../../ports/index.js"
import { type ChatRenderer, renderChat, RendererError, type RendererFormat, type TrainOn } from "./chat-renderer.js"
import { supervisedDatum, trainedTokens } from "./datum-builder.js"
import { type ChatTemplate, makeJinjaRenderer } from "./jinja-renderer.js"
import { fixRunLength, type RunLength } from "../run/run-length.js"
import { RunKeys, type SourcedRow } from "../run/run-keys.js"
import { defineStage } from "../run/stage.js"

/** How conversations become training data, and how long training runs. */
export interface RenderChatDataConfig extends RunLength {
  readonly format: RendererFormat
  /** The model's own chat template, which the `jinja` format renders with. */
  readonly chatTemplate?: ChatTemplate
  readonly trainOn: TrainOn
  readonly contextLength: number
}

/**
 * The renderer a configuration asks for: a built-in format, or the model's chat template.
 * Made once per run, so a template is parsed once, not once per conversation.
 */
export const chatRendererFor = (config: Pick<RenderChatDataConfig, "format" | "chatTemplate" | "trainOn">): Effect.Effect<ChatRenderer, RendererError> => {
  const { format, chatTemplate, trainOn } = config
  if (format !== "jinja") return Effect.succeed((messages, tokenizer) => renderChat(messages, tokenizer, format, trainOn))
  return chatTemplate === undefined
    ? Effect.fail(new RendererError({ message: "the jinja format needs a chat template (renderer.chatTemplate)" }))
    : makeJinjaRenderer(chatTemplate, trainOn)
}

/**
 * One conversation as a training datum, and whether it was cut to the context. A row with no
 * trained token within the context fails with its file and line: it would train nothing.
 * The run's render stage and the checks before a run (`sous validate`) both use it.
 */
export const renderChatRow = Effect.fnUntraced(function*(
  row: SourcedRow<ChatRow>,
  render: ChatRenderer,
  tokenizer: Tokenizer["Service"],
  config: Pick<RenderChatDataConfig, "trainOn" | "contextLength">
) {
  // A chat template can fail on one conversation only: say which.
  const rendered = yield* render(row.value.messages, tokenizer).pipe(
    Effect.mapError((error) => new RendererError({ message: `${row.uri} line ${row.line}: ${error.message}`, cause: error }))
  )
  const datum = supervisedDatum(rendered, config.contextLength)
  if (trainedTokens(datum) === 0) {
    return yield* new DatasetRowError({
      uri: row.uri,
      line: row.line,
      message: `no token is trained with trainOn '${config.trainOn}' within ${config.contextLength} tokens`
    })
  }
  return { datum, truncated: rendered.tokens.length > config.contextLength + 1 }
})

const renderRows = Effect.fnUntraced(function*(
  rows: ReadonlyArray<SourcedRow<ChatRow>>,
  render: ChatRenderer,
  config: RenderChatDataConfig
) {
  const tokenizer = yield* Tokenizer
  const data: Array<Datum> = []
  let truncated = 0
  for (const row of rows) {
    const rendered = yield* renderChatRow(row, render, tokenizer, config)
    if (rendered.truncated) truncated += 1
    data.push(rendered.datum)
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
    description: `render ${config.format}${config.chatTemplate === undefined ? "" : ` template ${config.chatTemplate.source}`} (train on ${config.trainOn}), context ${config.contextLength}`,
    reads: [RunKeys.trainRows, RunKeys.evalRows],
    writes: [RunKeys.trainData, RunKeys.evalData, RunKeys.totalSteps],
    run: Effect.fnUntraced(function*(context) {
      const render = yield* chatRendererFor(config)
      const train = yield* renderRows(context.get(RunKeys.trainRows), render, config)
      context.set(RunKeys.trainData, train)
      context.set(RunKeys.evalData, yield* renderRows(context.get(RunKeys.evalRows), render, config))
      yield* fixRunLength(context, config, train.length, context.get(RunKeys.evalRows).length)
    })
  })
