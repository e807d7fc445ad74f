import { Effect } from "effect"
import { type ChatRow, DatasetRowError, Tokenizer } from "../../ports/index.js"
import type { RendererFormat } from "./chat-renderer.js"
import { type CompletionPrompt, type CompletionRenderer, completionRendererFor } from "./completion-prompt.js"
import { DistillKeys } from "../distill/distill-keys.js"
import type { ChatTemplate } from "./jinja-renderer.js"
import { fixRunLength, type RunLength } from "../run/run-length.js"
import { RunKeys, type SourcedRow } from "../run/run-keys.js"
import { defineStage } from "../run/stage.js"

/** How chat rows become prompts, and how long training runs. */
export interface RenderPromptsConfig extends RunLength {
  readonly format: RendererFormat
  readonly chatTemplate?: ChatTemplate | undefined
  /** The student's context: a prompt must leave room in it for at least one sampled token. */
  readonly contextLength: number
}

/**
 * One row's conversation, without its final assistant message, as a prompt for the next
 * assistant turn. A row with no prompt, or whose prompt leaves no room in the context for a
 * sampled token, fails with its file and line. The run's stage and the checks before a run
 * (`sous validate`) both use it.
 */
export const renderPromptRow = Effect.fnUntraced(function*(
  row: SourcedRow<ChatRow>,
  render: CompletionRenderer,
  tokenizer: Tokenizer["Service"],
  contextLength: number
) {
  const messages = row.value.messages
  // The reply a row may hold is the one the student must learn to give: not part of the prompt.
  const conversation = messages.at(-1)?.role === "assistant" ? messages.slice(0, -1) : messages
  const fail = (message: string) => new DatasetRowError({ uri: row.uri, line: row.line, message })
  if (conversation.length === 0) return yield* fail("the row has no message before its assistant reply, so no prompt")
  const prompt = yield* render(conversation, tokenizer).pipe(Effect.mapError((error) => fail(error.message)))
  if (prompt.tokens.length >= contextLength) {
    return yield* fail(`the prompt has ${prompt.tokens.length} tokens, leaving no room for a reply in the context of ${contextLength}`)
  }
  return prompt
})

const renderRows = Effect.fnUntraced(function*(rows: ReadonlyArray<SourcedRow<ChatRow>>, config: RenderPromptsConfig) {
  const tokenizer = yield* Tokenizer
  const render = yield* completionRendererFor(config)
  const prompts: Array<CompletionPrompt> = []
  for (const row of rows) prompts.push(yield* renderPromptRow(row, render, tokenizer, config.contextLength))
  return prompts
})

/**
 * Renders each row's conversation, without its final assistant message, into a prompt for
 * the next assistant turn (the same renderer as training data), and fixes the number of
 * optimizer steps, announced in a `schedule` event.
 */
export const renderPrompts = (config: RenderPromptsConfig) =>
  defineStage({
    name: "render-prompts",
    rerunOnResume: true,
    description: `render prompts for the next assistant turn, ${config.format}${config.chatTemplate === undefined ? "" : ` template ${config.chatTemplate.source}`}, context ${config.contextLength}`,
    reads: [RunKeys.trainRows, RunKeys.evalRows],
    writes: [DistillKeys.trainPrompts, DistillKeys.evalPrompts, RunKeys.totalSteps],
    run: Effect.fnUntraced(function*(context) {
      const train = yield* renderRows(context.get(RunKeys.trainRows), config)
      const held = yield* renderRows(context.get(RunKeys.evalRows), config)
      context.set(DistillKeys.trainPrompts, train)
      context.set(DistillKeys.evalPrompts, held)
      yield* fixRunLength(context, config, train.length, held.length)
    })
  })
