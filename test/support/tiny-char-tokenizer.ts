/**
 * A character-level `tokenizer.json` (byte-level BPE with no merges) whose ids fit the tiny
 * Hugging Face fixtures (vocab 96): space, newline, digits, letters and a little
 * punctuation, then `<|bos|>` and `<|eos|>`, the special tokens the role-colon format writes.
 */
import { addedToken, byteLevelBpeJson } from "./byte-level-bpe-json.js"

// Byte-level BPE spells a space as U+0120 and a newline as U+010A.
const symbols = [
  "\u0120",
  "\u010A",
  ..."0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ:+=?.,!"
]

/** The special tokens, with the ids after the symbols. */
export const tinyCharSpecials = ["<|bos|>", "<|eos|>"] as const

/** Every id the tokenizer has: all below the fixtures' vocabulary of 96. */
export const tinyCharVocabSize = symbols.length + tinyCharSpecials.length

/** The tokenizer.json, as an object to write with JSON.stringify. */
export const tinyCharTokenizerJson = () =>
  byteLevelBpeJson({
    vocab: Object.fromEntries(symbols.map((symbol, index) => [symbol, index])),
    merges: [],
    added: tinyCharSpecials.map((content, index) => addedToken(content, symbols.length + index, true))
  })
