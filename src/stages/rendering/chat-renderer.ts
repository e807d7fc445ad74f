import { Effect, Schema } from "effect"
import { type ChatMessage, type Tokenizer } from "../../ports/index.js"
import { tokenizeTurns } from "./renderer-turns.js"

/** Which tokens carry loss: every assistant turn (default), only the last one, or all. */
export type TrainOn = "assistant" | "last_assistant" | "all"

/** Chat formats sous renders natively. */
export type ChatFormat = "role-colon" | "chatml" | "llama3"

/** Tokens of a rendered conversation and the loss weight of each. */
export interface RenderedChat {
  readonly tokens: ReadonlyArray<number>
  readonly weights: ReadonlyArray<number>
}

/** Renders one conversation to tokens and weights with a renderer chosen beforehand. */
export type ChatRenderer = (
  messages: ReadonlyArray<ChatMessage>,
  tokenizer: Tokenizer["Service"]
) => Effect.Effect<RenderedChat, RendererError>

/**
 * A conversation cannot be rendered: the tokenizer lacks a special token the format needs, or
 * a chat template cannot frame the conversation.
 */
export class RendererError extends Schema.TaggedError<RendererError>()("RendererError", {
  message: Schema.String,
  /** What the failure came from (a template's own error), for `--verbose`. */
  cause: Schema.optional(Schema.Defect())
}) {}

/**
 * How one format frames a message. Framing text spells its special tokens by name
 * (`<|im_start|>`); the tokenizer must know each of them, or they would become plain text.
 */
interface Framing {
  readonly specials: ReadonlyArray<string>
  readonly header: (message: ChatMessage, index: number) => string
  readonly suffix: (message: ChatMessage) => string
}

const capitalized = (role: string) => role[0]!.toUpperCase() + role.slice(1)

// Only the first message's header starts the sequence.
const begin = (marker: string, index: number) => (index === 0 ? marker : "")

const framings: Record<ChatFormat, Framing> = {
  // "User: hi\n\nAssistant: hello<|eos|>": the end-of-sequence token closes assistant turns
  // so sampling knows where to stop.
  "role-colon": {
    specials: ["<|bos|>", "<|eos|>"],
    header: (message, index) => `${begin("<|bos|>", index)}${index > 0 ? "\n\n" : ""}${capitalized(message.role)}: `,
    suffix: (message) => (message.role === "assistant" ? "<|eos|>" : "")
  },
  // "<|im_start|>user\nhi<|im_end|>\n"; the end marker is trained, the newline after it is not
  // part of the turn.
  chatml: {
    specials: ["<|bos|>", "<|im_start|>", "<|im_end|>"],
    header: (message, index) => `${begin("<|bos|>", index)}${index > 0 ? "\n" : ""}<|im_start|>${message.role}\n`,
    suffix: () => "<|im_end|>"
  },
  // Meta's Llama 3 format, turns back to back:
  // "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>". Unlike Meta's
  // template, content is not trimmed: the data is trained as written.
  llama3: {
    specials: ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
    header: (message, index) => `${begin("<|begin_of_text|>", index)}<|start_header_id|>${message.role}<|end_header_id|>\n\n`,
    suffix: () => "<|eot_id|>"
  }
}

/** Every renderer format: a built-in chat format, or `jinja` for a model's own chat template. */
export type RendererFormat = ChatFormat | "jinja"

/** Stable id of a renderer configuration, recorded in checkpoints. */
export const rendererId = (format: RendererFormat, trainOn: TrainOn): string => `${format}/${trainOn}`

/**
 * Renders a conversation to token ids with loss weights in a built-in format. The
 * begin-of-text marker that opens the sequence is never trained. Whether a message is trained
 * follows `trainOn`; a trained message's content and closing marker get weight 1, its header
 * weight 0. Fails when the tokenizer lacks a special token the format needs, naming them all.
 */
export const renderChat = Effect.fnUntraced(function*(
  messages: ReadonlyArray<ChatMessage>,
  tokenizer: Tokenizer["Service"],
  format: ChatFormat,
  trainOn: TrainOn
): Effect.fn.Return<RenderedChat, RendererError> {
  const framing = framings[format]
  const missing = framing.specials.filter((name) => tokenizer.specialTokens[name] === undefined)
  if (missing.length > 0) {
    return yield* new RendererError({
      message: `the ${format} format needs special tokens ${missing.join(", ")}, which tokenizer ${tokenizer.id} lacks`
    })
  }
  const turns = messages.map((message, index) => ({
    header: framing.header(message, index),
    content: message.content,
    suffix: framing.suffix(message)
  }))
  return tokenizeTurns(turns, messages, tokenizer, trainOn)
})
