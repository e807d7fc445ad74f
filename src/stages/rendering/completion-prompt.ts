import { Effect } from "effect"
import { type ChatMessage, type Tokenizer } from "../../ports/index.js"
import { type ChatRenderer, RendererError, type RendererFormat } from "./chat-renderer.js"
import type { ChatTemplate } from "./jinja-renderer.js"
import { chatRendererFor } from "./render-chat-data.js"

/** A conversation rendered up to where the assistant speaks next, and what ends its turn. */
export interface CompletionPrompt {
  /** The conversation and the next assistant turn's header. */
  readonly tokens: ReadonlyArray<number>
  /** The assistant turn's end marker: sampling stops at its first token. */
  readonly stop: ReadonlyArray<number>
}

/** Renders conversations for sampling the next assistant turn. */
export type CompletionRenderer = (
  messages: ReadonlyArray<ChatMessage>,
  tokenizer: Tokenizer["Service"]
) => Effect.Effect<CompletionPrompt, RendererError>

/**
 * A renderer of completion prompts in the recipe's format. The conversation is rendered with
 * an empty assistant message after it, training the last assistant turn only: its trained
 * tokens are then exactly the turn's end marker, and what comes before them is the prompt.
 * So prompts come from the same code (and the same chat template) as training data, and a
 * sampled turn followed by its end marker is what supervised training would have trained.
 */
export const completionRendererFor = (config: {
  readonly format: RendererFormat
  readonly chatTemplate?: ChatTemplate | undefined
}): Effect.Effect<CompletionRenderer, RendererError> =>
  Effect.map(
    chatRendererFor({ format: config.format, trainOn: "last_assistant", ...(config.chatTemplate === undefined ? {} : { chatTemplate: config.chatTemplate }) }),
    (render: ChatRenderer): CompletionRenderer => (messages, tokenizer) =>
      Effect.flatMap(render([...messages, { role: "assistant", content: "" }], tokenizer), (rendered) => {
        const start = rendered.weights.findIndex((weight) => weight > 0)
        if (start < 0) {
          return Effect.fail(new RendererError({ message: `the ${config.format} format ends assistant turns with no marker, so sampling could not tell where a reply ends` }))
        }
        return Effect.succeed({ tokens: rendered.tokens.slice(0, start), stop: rendered.tokens.slice(start) })
      })
  )
