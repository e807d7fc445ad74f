import { describe, expect, it } from "vitest"
import { makeByteTokenizer } from "../../../src/adapters/tokenizers/byte-tokenizer.js"
import { markTrained } from "../../../src/stages/rendering/mark-trained.js"

describe("markTrained", () => {
  it("wraps each run of trained tokens, decoding runs whole", () => {
    const tokenizer = makeByteTokenizer()
    const tokens = [...tokenizer.encode("Q: é? A: "), ...tokenizer.encode("ok"), tokenizer.specialTokens["<|eos|>"]!]
    const weights = tokens.map((_, i) => (i >= tokens.length - 3 ? 1 : 0))
    expect(markTrained(tokenizer, { tokens, weights }, { open: "[[", close: "]]" })).toBe("Q: é? A: [[ok<|eos|>]]")
    expect(markTrained(tokenizer, { tokens: [], weights: [] }, { open: "[[", close: "]]" })).toBe("")
  })
})
