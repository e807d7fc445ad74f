import { Effect, Schema, Stream } from "effect"
import { ChatMessage, DatasetError, DatasetRowError, DatasetSource, type Datum, Tokenizer } from "../../ports/index.js"
import { type ChatRenderer, RendererError } from "../rendering/chat-renderer.js"
import { trainEvalSplit } from "../data/data-order.js"
import { supervisedDatum, trainedTokens } from "../rendering/datum-builder.js"
import type { ChatTemplate } from "../rendering/jinja-renderer.js"
import { chatRendererFor, type RenderChatDataConfig } from "../rendering/render-chat-data.js"
import { fixRunLength, type RunLength } from "../run/run-length.js"
import { RunKeys, type SourcedRow } from "../run/run-keys.js"
import { defineStage } from "../run/stage.js"
import { stateKey } from "../run/state-key.js"

/** A reply the model could give: assistant messages only, at least one. */
export const PreferenceReply = Schema.Array(Schema.Struct({
  role: Schema.Literal("assistant"),
  content: Schema.String
})).check(Schema.isMinLength(1))

/**
 * One row of a preference dataset: `{"prompt": [messages], "chosen": [messages],
 * "rejected": [messages]}`. Both replies continue the same prompt; `chosen` is the better one.
 */
export const PreferenceRow = Schema.Struct({
  prompt: Schema.Array(ChatMessage).check(Schema.isMinLength(1)),
  chosen: PreferenceReply,
  rejected: PreferenceReply
})
export type PreferenceRow = typeof PreferenceRow.Type

/**
 * A row rendered to two datums, prompt + chosen reply and prompt + rejected reply, whose
 * weights mark the reply tokens only (what DPO compares).
 */
export interface RenderedPair {
  readonly chosen: Datum
  readonly rejected: Datum
}

/**
 * A rendered pair with the reference model's logprob of every target token of each datum
 * (the frozen starting weights), which DPO measures the policy against.
 */
export interface PreferencePair extends RenderedPair {
  readonly referenceChosen: Float32Array
  readonly referenceRejected: Float32Array
}

/** The run-state keys of the preference stages. */
export const PreferenceKeys = {
  trainRows: stateKey<ReadonlyArray<SourcedRow<PreferenceRow>>>("trainPreferenceRows"),
  evalRows: stateKey<ReadonlyArray<SourcedRow<PreferenceRow>>>("evalPreferenceRows"),
  /** Rendered pairs: what the data cursor walks, so what a checkpoint fingerprints. */
  trainRendered: stateKey<ReadonlyArray<RenderedPair>>("trainRenderedPairs"),
  evalRendered: stateKey<ReadonlyArray<RenderedPair>>("evalRenderedPairs"),
  /** Rendered pairs with their reference logprobs. */
  trainPairs: stateKey<ReadonlyArray<PreferencePair>>("trainPairs"),
  evalPairs: stateKey<ReadonlyArray<PreferencePair>>("evalPairs"),
  /** The pairs of the current step. */
  pairBatch: stateKey<ReadonlyArray<PreferencePair>>("pairBatch")
} as const

/** Where the preference data comes from. Without an eval URI, `evalFraction` of train is held out. */
export interface LoadPreferenceDataConfig {
  readonly train: string
  readonly eval?: string
  readonly evalFraction: number
  readonly seed: number
}

const readPreferenceRows = Effect.fnUntraced(function*(uri: string) {
  const source = yield* DatasetSource
  const rows = yield* Stream.runCollect(source.rows(uri, PreferenceRow))
  if (rows.length === 0) return yield* new DatasetError({ uri, message: "the dataset has no rows" })
  return rows.map((row): SourcedRow<PreferenceRow> => ({ ...row, uri }))
})

/** Reads and validates the train and held-out preference rows; a bad row fails with its file and line. */
export const loadPreferenceData = (config: LoadPreferenceDataConfig) =>
  defineStage({
    name: "load-data",
    rerunOnResume: true,
    description: config.eval === undefined
      ? `read preference pairs from ${config.train}, hold out ${Number((config.evalFraction * 100).toPrecision(3))}% for eval`
      : `read preference pairs from ${config.train}, eval on ${config.eval}`,
    reads: [],
    writes: [PreferenceKeys.trainRows, PreferenceKeys.evalRows],
    run: Effect.fnUntraced(function*(context) {
      const { train, eval: held } = yield* trainEvalSplit(yield* readPreferenceRows(config.train), config, readPreferenceRows)
      context.set(PreferenceKeys.trainRows, train)
      context.set(PreferenceKeys.evalRows, held)
      yield* Effect.logInfo("preference pairs loaded").pipe(Effect.annotateLogs({ train: train.length, eval: held.length }))
    })
  })

/**
 * How preference rows become datums, and how long training runs. The renderer's own
 * `trainOn` does not apply: a pair's weights always mark its reply and nothing else.
 */
export interface RenderPreferenceDataConfig extends RunLength {
  readonly format: RenderChatDataConfig["format"]
  readonly chatTemplate?: ChatTemplate
  readonly contextLength: number
}

/**
 * Renders `prompt` followed by `reply` to a datum whose weights mark the reply alone. The
 * conversation is rendered with every message trained, then the tokens of the prompt
 * rendered on its own (a prefix: renderers cut a conversation into turns) get weight 0, so
 * assistant turns inside the prompt are context, never compared. The datum is cut so that
 * the whole sequence, input and last target, fits the context: the reference scores it in
 * one `computeLogprobs` call.
 */
export const preferenceDatum = Effect.fnUntraced(function*(
  prompt: ReadonlyArray<ChatMessage>,
  reply: ReadonlyArray<ChatMessage>,
  render: ChatRenderer,
  tokenizer: Tokenizer["Service"],
  contextLength: number
) {
  const whole = yield* render([...prompt, ...reply], tokenizer)
  const head = yield* render(prompt, tokenizer)
  if (!head.tokens.every((token, index) => whole.tokens[index] === token)) {
    return yield* new RendererError({ message: "the renderer writes the prompt differently once a reply follows it, so the reply cannot be told apart" })
  }
  const weights = whole.weights.map((weight, index) => (index < head.tokens.length ? 0 : weight))
  return {
    datum: supervisedDatum({ tokens: whole.tokens, weights }, contextLength - 1),
    truncated: whole.tokens.length > contextLength
  }
})

/**
 * The renderer of preference rows: every message trained, so that {@link preferenceDatum}
 * can keep the reply's weights and zero the prompt's, whatever the recipe's `trainOn`.
 */
export const preferenceRendererFor = (config: Pick<RenderPreferenceDataConfig, "format" | "chatTemplate">) =>
  chatRendererFor({ ...config, trainOn: "all" })

/**
 * One reply of a preference row (`chosen` or `rejected`) after its prompt, as a datum, and
 * whether it was cut to the context. A reply cut away entirely fails with its file and line.
 * The run's render stage and the checks before a run (`sous validate`) both use it.
 */
export const renderPreferenceSide = Effect.fnUntraced(function*(
  row: SourcedRow<PreferenceRow>,
  name: "chosen" | "rejected",
  render: ChatRenderer,
  tokenizer: Tokenizer["Service"],
  contextLength: number
) {
  const rendered = yield* preferenceDatum(row.value.prompt, row.value[name], render, tokenizer, contextLength).pipe(
    Effect.mapError((error) => new RendererError({ message: `${row.uri} line ${row.line}: ${error.message}`, cause: error }))
  )
  if (trainedTokens(rendered.datum) === 0) {
    return yield* new DatasetRowError({
      uri: row.uri,
      line: row.line,
      message: `the ${name} reply has no token within the context of ${contextLength} tokens`
    })
  }
  return rendered
})

/** Renders rows to pairs; a row whose reply is cut away entirely fails with its file and line. */
const renderPairs = Effect.fnUntraced(function*(
  rows: ReadonlyArray<SourcedRow<PreferenceRow>>,
  render: ChatRenderer,
  config: RenderPreferenceDataConfig
) {
  const tokenizer = yield* Tokenizer
  const pairs: Array<RenderedPair> = []
  let truncated = 0
  const side = Effect.fnUntraced(function*(row: SourcedRow<PreferenceRow>, name: "chosen" | "rejected") {
    const rendered = yield* renderPreferenceSide(row, name, render, tokenizer, config.contextLength)
    if (rendered.truncated) truncated += 1
    return rendered.datum
  })
  for (const row of rows) pairs.push({ chosen: yield* side(row, "chosen"), rejected: yield* side(row, "rejected") })
  // Cutting a reply changes what is compared; say so instead of doing it quietly.
  if (truncated > 0) {
    yield* Effect.logWarning(`${truncated} of ${2 * rows.length} prompt-and-reply sequences exceed the context and were cut`).pipe(
      Effect.annotateLogs({ contextLength: config.contextLength })
    )
  }
  return pairs
})

/**
 * Renders each preference row to a (chosen, rejected) pair of datums and fixes the number of
 * optimizer steps (a step takes `batchSize` pairs), announcing it in a `schedule` event.
 */
export const renderPreferenceData = (config: RenderPreferenceDataConfig) =>
  defineStage({
    name: "render",
    rerunOnResume: true,
    description: `render ${config.format}${config.chatTemplate === undefined ? "" : ` template ${config.chatTemplate.source}`} prompt + chosen and prompt + rejected (replies weighted), context ${config.contextLength}`,
    reads: [PreferenceKeys.trainRows, PreferenceKeys.evalRows],
    writes: [PreferenceKeys.trainRendered, PreferenceKeys.evalRendered, RunKeys.totalSteps],
    run: Effect.fnUntraced(function*(context) {
      const render = yield* preferenceRendererFor(config)
      const train = yield* renderPairs(context.get(PreferenceKeys.trainRows), render, config)
      const held = yield* renderPairs(context.get(PreferenceKeys.evalRows), render, config)
      context.set(PreferenceKeys.trainRendered, train)
      context.set(PreferenceKeys.evalRendered, held)
      yield* fixRunLength(context, config, train.length, held.length)
    })
  })
