import { type ChatMessage, type Tokenizer } from "../../ports/index.js"
import type { RenderedChat, TrainOn } from "./chat-renderer.js"

/**
 * One message as a renderer writes it: the text before its content (turn separator, role
 * header, and for the first message the begin-of-text marker), the content itself, and the
 * text after it (the end-of-turn marker).
 */
export interface RenderedTurn {
  readonly header: string
  readonly content: string
  readonly suffix: string
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

// One pattern per tokenizer, built on first use: a model's tokenizer can know hundreds of
// special tokens, and every turn of every conversation is cut with it.
const specialPatterns = new WeakMap<Tokenizer["Service"], RegExp>()

const specialPattern = (tokenizer: Tokenizer["Service"]): RegExp => {
  let pattern = specialPatterns.get(tokenizer)
  if (pattern === undefined) {
    // Longer names first, so the longer of two overlapping special tokens wins. The
    // capturing group keeps the special tokens in a split's output, at odd indices.
    const names = Object.keys(tokenizer.specialTokens).sort((a, b) => b.length - a.length)
    pattern = names.length === 0 ? /(?!)/ : new RegExp(`(${names.map(escapeRegExp).join("|")})`)
    specialPatterns.set(tokenizer, pattern)
  }
  return pattern
}

/**
 * Encodes text a renderer wrote (headers and end markers, never message content), giving
 * each special token spelled in it its own id. A tokenizer may encode every string as
 * plain text (the byte tokenizer does, so that data cannot forge markers), so the text is
 * cut at the tokenizer's special tokens first.
 */
const encodeFraming = (text: string, tokenizer: Tokenizer["Service"]): Array<number> =>
  text.split(specialPattern(tokenizer)).flatMap((part, index) =>
    index % 2 === 1 ? [tokenizer.specialTokens[part]!] : part === "" ? [] : [...tokenizer.encode(part)]
  )

/**
 * Which messages `trainOn` trains: every assistant message, only the last one, or all.
 */
const trainedMessages = (messages: ReadonlyArray<ChatMessage>, trainOn: TrainOn): Array<boolean> => {
  const lastAssistant = messages.findLastIndex((message) => message.role === "assistant")
  return messages.map((message, index) =>
    trainOn === "all" || (message.role === "assistant" && (trainOn === "assistant" || index === lastAssistant))
  )
}

/**
 * Tokenizes rendered turns with their loss weights. Header, content and suffix are encoded
 * apart, so token boundaries fall on their edges and a weight never straddles a token. A
 * header is never trained; a trained message's content and suffix get weight 1, so the model
 * learns both the answer and where its turn ends. Content is encoded as plain text, framing
 * with its special tokens as ids.
 */
export const tokenizeTurns = (
  turns: ReadonlyArray<RenderedTurn>,
  messages: ReadonlyArray<ChatMessage>,
  tokenizer: Tokenizer["Service"],
  trainOn: TrainOn
): RenderedChat => {
  const trained = trainedMessages(messages, trainOn)
  const tokens: Array<number> = []
  const weights: Array<number> = []
  const push = (ids: ReadonlyArray<number>, weight: number) => {
    for (const id of ids) {
      tokens.push(id)
      weights.push(weight)
    }
  }
  turns.forEach((turn, index) => {
    const weight = trained[index] ? 1 : 0
    push(encodeFraming(turn.header, tokenizer), 0)
    push(tokenizer.encode(turn.content), weight)
    push(encodeFraming(turn.suffix, tokenizer), weight)
  })
  return { tokens, weights }
}
