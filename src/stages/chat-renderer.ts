import { Effect, Schema } from "effect"
import type { Tokenizer } from "../ports/index.js"
import type { ChatMessage } from "./chat.js"

/** Which tokens carry loss: every assistant turn (default), only the last one, or all. */
export type TrainOn = "assistant" | "last_assistant" | "all"

/** Chat formats sous renders natively. */
export type ChatFormat = "role-colon" | "chatml"

/** Tokens of a rendered conversation and the loss weight of each. */
export interface RenderedChat {
  readonly tokens: ReadonlyArray<number>
  readonly weights: ReadonlyArray<number>
}

/** A renderer cannot work with a tokenizer: it lacks a special token the format needs. */
export class RendererError extends Schema.TaggedError<RendererError>()("RendererError", {
  message: Schema.String
}) {}

type Piece = { readonly text: string } | { readonly special: string }

/**
 * How one format frames a message: pieces before the content (never trained) and after
 * it (trained with the content, so the model learns to end its turn).
 */
interface Framing {
  readonly specials: ReadonlyArray<string>
  readonly prefix: (message: ChatMessage, index: number) => ReadonlyArray<Piece>
  readonly suffix: (message: ChatMessage) => ReadonlyArray<Piece>
}

const capitalized = (role: string) => role[0]!.toUpperCase() + role.slice(1)

const framings: Record<ChatFormat, Framing> = {
  // "User: hi\n\nAssistant: hello<|eos|>": the end-of-sequence token closes assistant turns
  // so sampling knows where to stop.
  "role-colon": {
    specials: ["<|bos|>", "<|eos|>"],
    prefix: (message, index) => [{ text: `${index > 0 ? "\n\n" : ""}${capitalized(message.role)}: ` }],
    suffix: (message) => (message.role === "assistant" ? [{ special: "<|eos|>" }] : [])
  },
  // "<|im_start|>user\nhi<|im_end|>\n"; the end marker is trained, the newline after it is not
  // part of the turn.
  chatml: {
    specials: ["<|bos|>", "<|im_start|>", "<|im_end|>"],
    prefix: (message, index) => [
      ...(index > 0 ? [{ text: "\n" }] : []),
      { special: "<|im_start|>" },
      { text: `${message.role}\n` }
    ],
    suffix: () => [{ special: "<|im_end|>" }]
  }
}

/** Stable id of a renderer configuration, recorded in checkpoints. */
export const rendererId = (format: ChatFormat, trainOn: TrainOn): string => `${format}/${trainOn}`

/**
 * Renders a conversation to token ids with loss weights. A leading `<|bos|>` is never
 * trained. Whether a message is trained follows `trainOn`; a trained message's content and
 * closing marker get weight 1, its header weight 0.
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
  const encode = (piece: Piece): ReadonlyArray<number> =>
    "text" in piece ? tokenizer.encode(piece.text) : [tokenizer.specialTokens[piece.special]!]
  const lastAssistant = messages.findLastIndex((message) => message.role === "assistant")
  const trained = (message: ChatMessage, index: number) =>
    trainOn === "all" || (message.role === "assistant" && (trainOn === "assistant" || index === lastAssistant))

  const tokens: Array<number> = [tokenizer.specialTokens["<|bos|>"]!]
  const weights: Array<number> = [0]
  const push = (ids: ReadonlyArray<number>, weight: number) => {
    for (const id of ids) {
      tokens.push(id)
      weights.push(weight)
    }
  }
  messages.forEach((message, index) => {
    const weight = trained(message, index) ? 1 : 0
    for (const piece of framing.prefix(message, index)) push(encode(piece), 0)
    push(tokenizer.encode(message.content), weight)
    for (const piece of framing.suffix(message)) push(encode(piece), weight)
  })
  return { tokens, weights }
})
