import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { makeByteTokenizer } from "../../src/adapters/tokenizers/byte-tokenizer.js"
import type { ChatMessage } from "../../src/stages/chat.js"
import { renderChat } from "../../src/stages/chat-renderer.js"
import { supervisedDatum } from "../../src/stages/datum-builder.js"
import { toInts } from "../../src/ports/index.js"

const tokenizer = makeByteTokenizer()
const BOS = tokenizer.specialTokens["<|bos|>"]!
const EOS = tokenizer.specialTokens["<|eos|>"]!
const IM_START = tokenizer.specialTokens["<|im_start|>"]!
const IM_END = tokenizer.specialTokens["<|im_end|>"]!

/** Expected output, spelled piece by piece: [text or special id, weight]. */
const expected = (pieces: ReadonlyArray<readonly [string | number, 0 | 1]>) => {
  const tokens: Array<number> = []
  const weights: Array<number> = []
  for (const [piece, weight] of pieces) {
    const ids = typeof piece === "number" ? [piece] : [...Buffer.from(piece, "utf8")]
    tokens.push(...ids)
    weights.push(...ids.map(() => weight))
  }
  return { tokens, weights }
}

const conversation: ReadonlyArray<ChatMessage> = [
  { role: "system", content: "Be brief." },
  { role: "user", content: "2+2?" },
  { role: "assistant", content: "4" },
  { role: "user", content: "and 3+3?" },
  { role: "assistant", content: "6" }
]

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
})

describe("supervisedDatum", () => {
  it("shifts targets by one and cuts to the context length", () => {
    const datum = supervisedDatum({ tokens: [1, 2, 3, 4, 5], weights: [0, 0, 1, 1, 1] }, 3)
    assert.deepStrictEqual(toInts(datum.model_input), [1, 2, 3])
    assert.deepStrictEqual(datum.loss_fn_inputs["target_tokens"], { data: [2, 3, 4], dtype: "int64" })
    assert.deepStrictEqual(datum.loss_fn_inputs["weights"], { data: [0, 1, 1], dtype: "float32" })
  })
})
