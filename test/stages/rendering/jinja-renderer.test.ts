import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import { makeByteTokenizer } from "../../../src/adapters/tokenizers/byte-tokenizer.js"
import { Tokenizer } from "../../../src/ports/index.js"
import type { ChatMessage } from "../../../src/ports/chat.js"
import { type ChatFormat, renderChat, type TrainOn } from "../../../src/stages/rendering/chat-renderer.js"
import { supervisedDatum } from "../../../src/stages/rendering/datum-builder.js"
import { type ChatTemplate, makeJinjaRenderer } from "../../../src/stages/rendering/jinja-renderer.js"
import { renderChatData, type RenderChatDataConfig } from "../../../src/stages/rendering/render-chat-data.js"
import { RunKeys } from "../../../src/stages/run/run-keys.js"
import { runWorkflow, stage, workflow } from "../../../src/workflows/index.js"
import { recordingSink } from "../../workflows/kit.js"
import { conversation, expected, llama3Specials, withEmptyMessages } from "./renderer-fixtures.js"

// Minimal templates in the style models ship, written for these tests. They write the text
// the built-in formats write: ChatML turns joined by a newline, Llama 3 turns back to back.
const chatmlTemplate: ChatTemplate = {
  source: "chatml-test",
  bosToken: "<|bos|>",
  template: String.raw`{{ bos_token }}{% for message in messages %}{% if not loop.first %}{{ '\n' }}{% endif %}<|im_start|>{{ message.role }}{{ '\n' }}{{ message.content }}<|im_end|>{% endfor %}{% if add_generation_prompt %}{{ '\n<|im_start|>assistant\n' }}{% endif %}`
}

const llama3Template: ChatTemplate = {
  source: "llama3-test",
  bosToken: "<|begin_of_text|>",
  eosToken: "<|eot_id|>",
  template: String.raw`{% for message in messages %}{% if loop.first %}{{ bos_token }}{% endif %}<|start_header_id|>{{ message.role }}<|end_header_id|>{{ '\n\n' }}{{ message.content }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>{{ '\n\n' }}{% endif %}`
}

const byteTokenizer = makeByteTokenizer()
const llama3Tokenizer = makeByteTokenizer(llama3Specials)

const renderJinja = (chatTemplate: ChatTemplate, messages: ReadonlyArray<ChatMessage>, trainOn: TrainOn = "assistant", tokenizer = byteTokenizer) =>
  Effect.flatMap(makeJinjaRenderer(chatTemplate, trainOn), (render) => render(messages, tokenizer))

const failure = (effect: Effect.Effect<unknown, { readonly message: string }>) =>
  Effect.map(Effect.exit(effect), (exit) => {
    const error = Exit.findErrorOption(exit)
    return error._tag === "Some" ? error.value.message : "no error"
  })

// A system prompt, two exchanges, an empty user message and an empty reply; one reply
// spells a role name, which must not pull the header into the trained text.
const mixed: ReadonlyArray<ChatMessage> = [
  ...conversation,
  { role: "user", content: "" },
  { role: "assistant", content: "a" },
  ...withEmptyMessages.slice(1)
]

const cases: ReadonlyArray<readonly [ChatFormat, ChatTemplate, typeof byteTokenizer]> = [
  ["chatml", chatmlTemplate, byteTokenizer],
  ["llama3", llama3Template, llama3Tokenizer]
]
const trainOns: ReadonlyArray<TrainOn> = ["assistant", "last_assistant", "all"]

describe("makeJinjaRenderer", () => {
  for (const [format, chatTemplate, tokenizer] of cases) {
    for (const trainOn of trainOns) {
      it.effect(`a ${format} template gives the built-in ${format} tokens and weights (trainOn ${trainOn})`, () =>
        Effect.gen(function*() {
          for (const messages of [conversation, withEmptyMessages, mixed]) {
            const fromTemplate = yield* renderJinja(chatTemplate, messages, trainOn, tokenizer)
            assert.deepStrictEqual(fromTemplate, yield* renderChat(messages, tokenizer, format, trainOn))
          }
        }))
    }
  }

  it.effect("encodes the template's markers as special tokens but content that spells one as text", () =>
    Effect.gen(function*() {
      const { specialTokens } = byteTokenizer
      const rendered = yield* renderJinja(chatmlTemplate, [{ role: "user", content: "<|im_end|>" }], "all")
      assert.deepStrictEqual(rendered, expected([
        [specialTokens["<|bos|>"]!, 0],
        [specialTokens["<|im_start|>"]!, 0], ["user\n", 0], ["<|im_end|>", 1], [specialTokens["<|im_end|>"]!, 1]
      ]))
    }))

  it.effect("trains the content as the template writes it: trimmed by a template that trims", () =>
    Effect.gen(function*() {
      const trimming = { source: "trim-test", template: "{% for message in messages %}[{{ message.role }}] {{ message.content | trim }};{% endfor %}" }
      const rendered = yield* renderJinja(trimming, [{ role: "user", content: "hi" }, { role: "assistant", content: "  4 " }])
      assert.deepStrictEqual(rendered, expected([["[user] ", 0], ["hi", 0], [";", 0], ["[assistant] ", 0], ["4", 1], [";", 1]]))
    }))

  it.effect("cuts a template that writes the last turn differently into turns as it writes the whole conversation", () =>
    Effect.gen(function*() {
      const markingLast = {
        source: "last-test",
        template: "{% for message in messages %}{% if loop.last %}>{% endif %}{{ message.role }}: {{ message.content }}\n{% endfor %}"
      }
      assert.deepStrictEqual(yield* renderJinja(markingLast, conversation), expected([
        ["system: ", 0], ["Be brief.", 0], ["\n", 0],
        ["user: ", 0], ["2+2?", 0], ["\n", 0],
        ["assistant: ", 0], ["4", 1], ["\n", 1],
        ["user: ", 0], ["and 3+3?", 0], ["\n", 0],
        [">assistant: ", 0], ["6", 1], ["\n", 1]
      ]))
    }))

  it.effect("fails clearly on a template that ends a turn otherwise when a message follows", () =>
    Effect.gen(function*() {
      const endingLast = {
        source: "end-test",
        template: "{% for message in messages %}{{ message.role }}: {{ message.content }}{% if loop.last %}</s>{% else %}\n{% endif %}{% endfor %}"
      }
      assert.strictEqual(
        yield* failure(renderJinja(endingLast, conversation)),
        `chat template end-test ends message 1's turn with "</s>" when it is the last message but not when another follows, so its end marker cannot be told apart`
      )
    }))

  it.effect("fails clearly on a template whose framing depends on the content", () =>
    Effect.gen(function*() {
      const byLength = {
        source: "length-test",
        template: "{% for message in messages %}{{ message.role }}{% if message.content | length > 3 %}+{% endif %}: {{ message.content }}\n{% endfor %}"
      }
      assert.strictEqual(
        yield* failure(renderJinja(byLength, conversation)),
        "chat template length-test frames message 3 differently depending on its content, so its content cannot be found"
      )
    }))

  it.effect("fails clearly on a template that writes the messages out of order", () =>
    Effect.gen(function*() {
      const reversed = { source: "reverse-test", template: "{% for message in messages | reverse %}{{ message.role }}: {{ message.content }}\n{% endfor %}" }
      assert.strictEqual(
        yield* failure(renderJinja(reversed, conversation)),
        "chat template reverse-test writes message 2's content before message 1's end marker, so their turns cannot be told apart"
      )
    }))

  it.effect("fails clearly on a template that does not write a message's content", () =>
    Effect.gen(function*() {
      const hiding = { source: "hide-test", template: "{% for message in messages %}{% if message.role != 'system' %}{{ message.content }}{% endif %}{% endfor %}" }
      assert.strictEqual(
        yield* failure(renderJinja(hiding, conversation)),
        "chat template hide-test does not write message 1's content exactly once, so its content cannot be found"
      )
    }))

  it.effect("fails clearly on a template that cannot be parsed or raises", () =>
    Effect.gen(function*() {
      assert.include(yield* failure(renderJinja({ source: "broken", template: "{% for %}" }, conversation)), "chat template broken cannot be parsed: ")
      const raising = { source: "raising", template: "{{ raise_exception('roles must alternate') }}" }
      assert.strictEqual(yield* failure(renderJinja(raising, conversation)), "chat template raising fails on messages 1..5: roles must alternate")
    }))
})

describe("renderChatData", () => {
  const run = (config: RenderChatDataConfig) => {
    const rows = [{ uri: "memory://chat", line: 1, value: { messages: conversation } }]
    const wf = workflow({ name: "render", initial: [RunKeys.trainRows, RunKeys.evalRows], root: stage(renderChatData(config)) })
    return runWorkflow(wf, { initialState: { trainRows: rows, evalRows: [] } }).pipe(
      Effect.provide(Layer.merge(recordingSink().layer, Layer.succeed(Tokenizer)(byteTokenizer)))
    )
  }
  const settings = { trainOn: "assistant", contextLength: 64, batchSize: 1 } as const

  it.effect("renders with the chat template the jinja format names", () =>
    Effect.gen(function*() {
      const result = yield* run({ ...settings, format: "jinja", chatTemplate: chatmlTemplate })
      const builtIn = yield* renderChat(conversation, byteTokenizer, "chatml", "assistant")
      assert.deepStrictEqual(result.state[RunKeys.trainData.name], [supervisedDatum(builtIn, 64)])
    }))

  it.effect("names the row a chat template fails on", () =>
    Effect.gen(function*() {
      const raising = { source: "raising", template: "{{ raise_exception('roles must alternate') }}" }
      assert.strictEqual(
        yield* failure(run({ ...settings, format: "jinja", chatTemplate: raising })),
        "memory://chat line 1: chat template raising fails on messages 1..5: roles must alternate"
      )
    }))

  it.effect("fails clearly when the jinja format has no chat template", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* failure(run({ ...settings, format: "jinja" })), "the jinja format needs a chat template (renderer.chatTemplate)")
    }))
})
