import { Template } from "@huggingface/jinja"
import { Effect } from "effect"
import type { ChatMessage } from "../../ports/index.js"
import { messageOf } from "../../ports/thrown-message.js"
import { type ChatRenderer, RendererError, type TrainOn } from "./chat-renderer.js"
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
 * conversation as it was, without a new assistant header.
 *
 * Each message's turn is the text that adding it appends: the text of messages 1..i with the
 * text of messages 1..i-1 taken off its start. A template that rewrites earlier turns once a
 * later one follows (one that drops reasoning from history, say) cannot be cut into turns
 * this way and fails with a RendererError. Within a turn, the content is found by rendering
 * the same messages with a probe in place of the last one's content: the text before the
 * probe is the turn's header (role markers, separators, a leading `bos_token`), the text after
 * it the suffix (the end-of-turn marker). Finding the content by searching for it would train
 * a header whose role name contains the content, or the whole header when the content is
 * empty. The content is what the template writes, so a template that trims it trains the
 * trimmed text.
 *
 * The turns are tokenized as the built-in renderers do: the header is never trained; a
 * message that `trainOn` trains has its content and suffix trained. Special tokens the template
 * spells in its own text (`<|im_start|>`) become their ids; the tokenizer must know them, or
 * they stay plain text.
 */
export const makeJinjaRenderer = (chatTemplate: ChatTemplate, trainOn: TrainOn): Effect.Effect<ChatRenderer, RendererError> =>
  Effect.gen(function*() {
    const { source } = chatTemplate
    const template = yield* Effect.try({
      try: () => new Template(chatTemplate.template),
      catch: (cause) => new RendererError({ message: `chat template ${source} cannot be parsed: ${messageOf(cause)}`, cause })
    })
    const variables = {
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

    const renderer: ChatRenderer = Effect.fnUntraced(function*(messages, tokenizer) {
      const turns: Array<RenderedTurn> = []
      let before = ""
      for (const [index, message] of messages.entries()) {
        const n = index + 1
        const text = yield* render(messages.slice(0, n))
        const probed = yield* render([...messages.slice(0, index), { ...message, content: contentProbe }])
        if (!text.startsWith(before) || !probed.startsWith(before)) {
          return yield* problem(
            `rewrites earlier turns: the text of messages 1..${n} does not start with the text of messages 1..${index}, so message ${n}'s turn cannot be told apart`
          )
        }
        const at = probed.indexOf(contentProbe, before.length)
        if (at < 0 || probed.includes(contentProbe, at + 1)) {
          return yield* problem(`does not write message ${n}'s content once in its turn, so its content cannot be found`)
        }
        const header = probed.slice(before.length, at)
        const suffix = probed.slice(at + contentProbe.length)
        const turn = text.slice(before.length)
        if (turn.length < header.length + suffix.length || !turn.startsWith(header) || !turn.endsWith(suffix)) {
          return yield* problem(`frames message ${n} differently depending on its content, so its content cannot be found`)
        }
        turns.push({ header, content: turn.slice(header.length, turn.length - suffix.length), suffix })
        before = text
      }
      return tokenizeTurns(turns, messages, tokenizer, trainOn)
    })
    return renderer
  })
