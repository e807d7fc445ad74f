import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { makeByteTokenizer } from "../../../src/adapters/tokenizers/byte-tokenizer.js"
import { renderChat } from "../../../src/stages/rendering/chat-renderer.js"
import { supervisedDatum } from "../../../src/stages/rendering/datum-builder.js"
import { toInts } from "../../../src/ports/index.js"
import { conversation, expected, llama3Specials, withEmptyMessages } from "./renderer-fixtures.js"

const tokenizer = makeByteTokenizer()
const BOS = tokenizer.specialTokens["<|bos|>"]!
const EOS = tokenizer.specialTokens["<|eos|>"]!
const IM_START = tokenizer.specialTokens["<|im_start|>"]!
const IM_END = tokenizer.specialTokens["<|im_end|>"]!

const llama3Tokenizer = makeByteTokenizer(llama3Specials)
const BEGIN = llama3Tokenizer.specialTokens["<|begin_of_text|>"]!
const HEADER_START = llama3Tokenizer.specialTokens["<|start_header_id|>"]!
const HEADER_END = llama3Tokenizer.specialTokens["<|end_header_id|>"]!
const EOT = llama3Tokenizer.specialTokens["<|eot_id|>"]!

describe("renderChat", () => {
  it.effect("role-colon: trains every assistant turn and its end token", () =>
    Effect.gen(function*() {
      const rendered = yield* renderChat(conversation, tokenizer, "role-colon", "assistant")
      assert.deepStrictEqual(rendered, expected([
        [BOS, 0],
        ["System: ", 0], ["Be brief.", 0],
        ["\n\nUser: ", 0], ["2+2?", 0],
        ["\n\nAssistant: ", 0], ["4", 1], [EOS, 1],
        ["\n\nUser: ", 0], ["and 3+3?", 0],
        ["\n\nAssistant: ", 0], ["6", 1], [EOS, 1]
      ]))
    }))

  it.effect("chatml: markers are special tokens; only the last assistant turn is trained when asked", () =>
    Effect.gen(function*() {
      const rendered = yield* renderChat(conversation.slice(1), tokenizer, "chatml", "last_assistant")
      assert.deepStrictEqual(rendered, expected([
        [BOS, 0],
        [IM_START, 0], ["user\n", 0], ["2+2?", 0], [IM_END, 0],
        ["\n", 0], [IM_START, 0], ["assistant\n", 0], ["4", 0], [IM_END, 0],
        ["\n", 0], [IM_START, 0], ["user\n", 0], ["and 3+3?", 0], [IM_END, 0],
        ["\n", 0], [IM_START, 0], ["assistant\n", 0], ["6", 1], [IM_END, 1]
      ]))
    }))

  it.effect("chatml: a system prompt, and empty messages whose markers stay", () =>
    Effect.gen(function*() {
      const rendered = yield* renderChat([{ role: "system", content: "Be brief." }, ...withEmptyMessages.slice(1)], tokenizer, "chatml", "assistant")
      assert.deepStrictEqual(rendered, expected([
        [BOS, 0],
        [IM_START, 0], ["system\n", 0], ["Be brief.", 0], [IM_END, 0],
        ["\n", 0], [IM_START, 0], ["user\n", 0], ["hi", 0], [IM_END, 0],
        ["\n", 0], [IM_START, 0], ["assistant\n", 0], [IM_END, 1]
      ]))
      const empty = yield* renderChat(withEmptyMessages, tokenizer, "chatml", "all")
      assert.deepStrictEqual(empty, expected([
        [BOS, 0],
        [IM_START, 0], ["system\n", 0], [IM_END, 1],
        ["\n", 0], [IM_START, 0], ["user\n", 0], ["hi", 1], [IM_END, 1],
        ["\n", 0], [IM_START, 0], ["assistant\n", 0], [IM_END, 1]
      ]))
    }))

  it.effect("chatml: content that spells a marker stays plain text", () =>
    Effect.gen(function*() {
      const rendered = yield* renderChat([{ role: "user", content: "<|im_end|>" }], tokenizer, "chatml", "all")
      assert.deepStrictEqual(rendered, expected([[BOS, 0], [IM_START, 0], ["user\n", 0], ["<|im_end|>", 1], [IM_END, 1]]))
    }))

  it.effect("llama3: turns back to back; headers never trained, content and <|eot_id|> trained", () =>
    Effect.gen(function*() {
      const header = (role: string) => [[HEADER_START, 0], [role, 0], [HEADER_END, 0], ["\n\n", 0]] as const
      const rendered = yield* renderChat(conversation, llama3Tokenizer, "llama3", "assistant")
      assert.deepStrictEqual(rendered, expected([
        [BEGIN, 0],
        ...header("system"), ["Be brief.", 0], [EOT, 0],
        ...header("user"), ["2+2?", 0], [EOT, 0],
        ...header("assistant"), ["4", 1], [EOT, 1],
        ...header("user"), ["and 3+3?", 0], [EOT, 0],
        ...header("assistant"), ["6", 1], [EOT, 1]
      ]))
      const empty = yield* renderChat(withEmptyMessages, llama3Tokenizer, "llama3", "last_assistant")
      assert.deepStrictEqual(empty, expected([
        [BEGIN, 0],
        ...header("system"), [EOT, 0],
        ...header("user"), ["hi", 0], [EOT, 0],
        ...header("assistant"), [EOT, 1]
      ]))
    }))

  it.effect("role-colon: a system prompt and empty messages", () =>
    Effect.gen(function*() {
      const rendered = yield* renderChat(withEmptyMessages, tokenizer, "role-colon", "last_assistant")
      assert.deepStrictEqual(rendered, expected([
        [BOS, 0], ["System: ", 0], ["\n\nUser: ", 0], ["hi", 0], ["\n\nAssistant: ", 0], [EOS, 1]
      ]))
    }))

  it.effect("trainOn all trains every message's content but never headers or bos", () =>
    Effect.gen(function*() {
      const rendered = yield* renderChat([{ role: "user", content: "é" }, { role: "assistant", content: "" }], tokenizer, "role-colon", "all")
      assert.deepStrictEqual(rendered, expected([
        [BOS, 0], ["User: ", 0], ["é", 1], ["\n\nAssistant: ", 0], [EOS, 1]
      ]))
    }))

  it.effect("fails clearly when the tokenizer lacks the format's special tokens", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(renderChat(conversation, makeByteTokenizer(["<|bos|>", "<|eos|>"]), "chatml", "assistant"))
      const error = Exit.findErrorOption(exit)
      assert.strictEqual(error._tag === "Some" ? error.value.message : "", `the chatml format needs special tokens <|im_start|>, <|im_end|>, which tokenizer ${makeByteTokenizer(["<|bos|>", "<|eos|>"]).id} lacks`)
    }))

  it.effect("names every Llama 3 special token the default byte tokenizer lacks", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(renderChat(conversation, tokenizer, "llama3", "assistant"))
      const error = Exit.findErrorOption(exit)
      assert.strictEqual(
        error._tag === "Some" ? error.value.message : "",
        `the llama3 format needs special tokens <|begin_of_text|>, <|start_header_id|>, <|end_header_id|>, <|eot_id|>, which tokenizer ${tokenizer.id} lacks`
      )
    }))
})

describe("supervisedDatum", () => {
  it("shifts targets by one and cuts to the context length", () => {
    const datum = supervisedDatum({ tokens: [1, 2, 3, 4, 5], weights: [0, 0, 1, 1, 1] }, 3)
    assert.deepStrictEqual(toInts(datum.model_input), [1, 2, 3])
    assert.deepStrictEqual(datum.loss_fn_inputs["target_tokens"], { data: [2, 3, 4], dtype: "int64" })
    assert.deepStrictEqual(datum.loss_fn_inputs["weights"], { data: [0, 1, 1], dtype: "float32" })
  })
})
