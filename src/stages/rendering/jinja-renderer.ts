import { Template } from "@huggingface/jinja"
import { Effect } from "effect"
import type { ChatMessage } from "../../ports/index.js"
import { messageOf } from "../../ports/thrown-message.js"
import { type ChatRenderer, RendererError, type TrainOn } from "./chat-renderer.js"
import { stripFunctions, useStripWithChars } from "./jinja-strip.js"
import { type RenderedTurn, tokenizeTurns } from "./renderer-turns.js"

/** A model's own chat template: the `chat_template` of its `tokenizer_config.json`. */
export interface ChatTemplate {
  /** Where the template came from (a file path), named in errors. */
  readonly source: string
  /** The Jinja source of the template. */
  readonly template: string
  /** What the template's `bos_token` variable holds; absent, it renders as nothing. */
  readonly bosToken?: string
  /** What the template's `eos_token` variable holds; absent, it renders as nothing. */
  readonly eosToken?: string
}

// Stands in for a message's content to find where the template writes it. Private-use
// characters: no template spells them, and `trim` leaves them in place.
const contentProbe = "\uE000sous-content\uE001"

/**
 * Parses a chat template into a renderer that gives the same tokens and weights as the
 * built-in renderers when the template writes the same text. A template is rendered with
 * `messages`, `bos_token`, `eos_token` and `add_generation_prompt` false, so it writes the
 * conversation as it was, without a new assistant header, as transformers'
 * `apply_chat_template` does; `strip`, `lstrip` and `rstrip` with an argument strip the
 * characters given, as in Python (see jinja-strip.ts).
 *
 * The whole conversation is rendered once, and each message's content is found in that text
 * by rendering the conversation again with a probe in place of the message's content: the
 * text before the probe must start the conversation's text and the text after it end it, and
 * what lies between is the content as the template writes it (trimmed by a template that
 * trims, the reply alone where a template drops reasoning from earlier turns). Finding the
 * content by searching for it would train a header whose role name contains the content, or
 * the whole header when the content is empty.
 *
 * A message's suffix (its end-of-turn marker) is the text the template writes after its
 * content when it is the last message; it must also follow the content when more messages
 * do. The text between one message's suffix and the next message's content is that message's
 * header (role markers, separators, a leading `bos_token`, and whatever else the template
 * writes there, such as the empty reasoning block Qwen3 writes in its last assistant turn).
 * So a template may write a turn differently once a later one follows, as long as the end
 * marker stays. A template whose framing of a message depends on that message's content, or
 * on another message's, or that writes another end marker when a message follows, fails with
 * a RendererError naming the message.
 *
 * The turns are tokenized as the built-in renderers do: the header is never trained; a
 * message that `trainOn` trains has its content and suffix trained. Special tokens the template
 * spells in its own text (`<|im_start|>`) become their ids; the tokenizer must know them, or
 * they stay plain text. Header, content and suffix are encoded apart, so no token straddles a
 * trained edge; where the whole text would merge characters across an edge into one token (a
 * content starting with a newline after a header ending with one), the ids differ from
 * transformers', the text does not.
 */
export const makeJinjaRenderer = (chatTemplate: ChatTemplate, trainOn: TrainOn): Effect.Effect<ChatRenderer, RendererError> =>
  Effect.gen(function*() {
    const { source } = chatTemplate
    const template = yield* Effect.try({
      try: () => {
        const parsed = new Template(chatTemplate.template)
        useStripWithChars(parsed)
        return parsed
      },
      catch: (cause) => new RendererError({ message: `chat template ${source} cannot be parsed: ${messageOf(cause)}`, cause })
    })
    const variables = {
      ...stripFunctions,
      add_generation_prompt: false,
      ...(chatTemplate.bosToken === undefined ? {} : { bos_token: chatTemplate.bosToken }),
      ...(chatTemplate.eosToken === undefined ? {} : { eos_token: chatTemplate.eosToken })
    }
    const render = (messages: ReadonlyArray<ChatMessage>) =>
      Effect.try({
        try: () => template.render({ ...variables, messages }),
        catch: (cause) =>
          new RendererError({ message: `chat template ${source} fails on messages 1..${messages.length}: ${messageOf(cause)}`, cause })
      })
    const problem = (message: string) => new RendererError({ message: `chat template ${source} ${message}` })
    const probing = (messages: ReadonlyArray<ChatMessage>, index: number) =>
      messages.map((message, i) => (i === index ? { ...message, content: contentProbe } : message))

    // The text before and after message `index`'s content when the template renders `messages`.
    const around = Effect.fnUntraced(function*(messages: ReadonlyArray<ChatMessage>, index: number) {
      const probed = yield* render(probing(messages, index))
      const at = probed.indexOf(contentProbe)
      if (at < 0 || probed.includes(contentProbe, at + 1)) {
        return yield* problem(`does not write message ${index + 1}'s content exactly once, so its content cannot be found`)
      }
      return { before: probed.slice(0, at), after: probed.slice(at + contentProbe.length) }
    })

    const renderer: ChatRenderer = Effect.fnUntraced(function*(messages, tokenizer) {
      const text = yield* render(messages)
      const last = messages.length - 1
      const turns: Array<RenderedTurn> = []
      // Where the previous message's turn ended in `text`.
      let cursor = 0
      for (const index of messages.keys()) {
        const n = index + 1
        const { before, after } = yield* around(messages, index)
        const end = text.length - after.length
        if (end < before.length || !text.startsWith(before) || !text.endsWith(after)) {
          return yield* problem(`frames message ${n} differently depending on its content, so its content cannot be found`)
        }
        if (before.length < cursor) {
          return yield* problem(`writes message ${n}'s content before message ${index}'s end marker, so their turns cannot be told apart`)
        }
        // The last message's suffix is the rest of the text; an earlier one's is what the
        // template ends its turn with when it is the last.
        const suffix = index === last ? after : (yield* around(messages.slice(0, n), index)).after
        if (!text.startsWith(suffix, end)) {
          return yield* problem(
            `ends message ${n}'s turn with ${JSON.stringify(suffix)} when it is the last message but not when another follows, so its end marker cannot be told apart`
          )
        }
        turns.push({ header: text.slice(cursor, before.length), content: text.slice(before.length, end), suffix })
        cursor = end + suffix.length
      }
      return tokenizeTurns(turns, messages, tokenizer, trainOn)
    })
    return renderer
  })
