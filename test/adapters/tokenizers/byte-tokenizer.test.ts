import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { byteTokenizerLayer, makeByteTokenizer } from "../../../src/adapters/tokenizers/byte-tokenizer.js"
import { Tokenizer } from "../../../src/ports/index.js"

describe("byte tokenizer", () => {
  const tokenizer = makeByteTokenizer()

  it("encodes text as its UTF-8 bytes and decodes it back", () => {
    const text = "héllo wörld — 你好 🍲 \u0000\n"
    const ids = tokenizer.encode(text)
    assert.deepStrictEqual(ids, [...Buffer.from(text, "utf8")])
    assert.isTrue(ids.every((id) => id >= 0 && id < 256))
    assert.strictEqual(tokenizer.decode(ids), text)
    assert.deepStrictEqual(tokenizer.encode(""), [])
    assert.strictEqual(tokenizer.decode([]), "")
  })

  it("gives the default special tokens ids from 256 in order, and counts them in the vocabulary", () => {
    assert.deepStrictEqual(tokenizer.specialTokens, {
      "<|bos|>": 256,
      "<|eos|>": 257,
      "<|pad|>": 258,
      "<|im_start|>": 259,
      "<|im_end|>": 260
    })
    assert.strictEqual(tokenizer.vocabSize, 261)
    assert.strictEqual(tokenizer.id, "byte-v1+<|bos|>,<|eos|>,<|pad|>,<|im_start|>,<|im_end|>")
  })

  it("takes its special tokens in the order given, and its id records them", () => {
    const custom = makeByteTokenizer(["<|eos|>", "<|sep|>"])
    assert.deepStrictEqual(custom.specialTokens, { "<|eos|>": 256, "<|sep|>": 257 })
    assert.strictEqual(custom.vocabSize, 258)
    assert.strictEqual(custom.id, "byte-v1+<|eos|>,<|sep|>")
    const plain = makeByteTokenizer([])
    assert.strictEqual(plain.vocabSize, 256)
    assert.strictEqual(plain.id, "byte-v1")
    assert.notStrictEqual(makeByteTokenizer(["<|sep|>", "<|eos|>"]).id, custom.id)
  })

  it("never turns text into a special token: user data cannot forge one", () => {
    const ids = tokenizer.encode("<|eos|>")
    assert.strictEqual(ids.length, 7)
    assert.isFalse(ids.includes(257))
  })

  it("decodes special ids to their names, between bytes", () => {
    const { "<|bos|>": bos, "<|im_start|>": imStart, "<|im_end|>": imEnd } = tokenizer.specialTokens
    const ids = [bos!, imStart!, ...tokenizer.encode("user\né"), imEnd!]
    assert.strictEqual(tokenizer.decode(ids), "<|bos|><|im_start|>user\né<|im_end|>")
  })

  it("shows broken UTF-8 and unknown ids as U+FFFD without joining bytes across a special token", () => {
    const [first, second] = tokenizer.encode("é")
    assert.strictEqual(tokenizer.decode([first!, 256, second!]), "\uFFFD<|bos|>\uFFFD")
    assert.strictEqual(tokenizer.decode([104, 261, 105, -1]), "h\uFFFDi\uFFFD")
  })

  it("refuses an ambiguous list of special tokens", () => {
    assert.throws(() => makeByteTokenizer(["<|a|>", "<|a|>"]), RangeError)
    assert.throws(() => makeByteTokenizer([""]), RangeError)
    assert.throws(() => makeByteTokenizer(["<|a,b|>"]), RangeError)
  })

  it.effect("byteTokenizerLayer provides the tokenizer", () =>
    Effect.gen(function*() {
      const provided = yield* Tokenizer
      assert.strictEqual(provided.id, "byte-v1+<|pad|>")
      assert.deepStrictEqual(provided.encode("A"), [65])
    }).pipe(Effect.provide(byteTokenizerLayer(["<|pad|>"]))))
})
