/**
 * A character-level `tokenizer.json` (byte-level BPE with no merges) whose ids fit the tiny
 * Hugging Face fixtures (vocab 96): space, newline, digits, letters and a little
 * punctuation, then `<|bos|>` and `<|eos|>`, the special tokens the role-colon format writes.
 */

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
export const tinyCharTokenizerJson = () => ({
  version: "1.0",
  truncation: null,
  padding: null,
  added_tokens: tinyCharSpecials.map((content, index) => ({
    id: symbols.length + index,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true
  })),
  normalizer: null,
  pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
  post_processor: null,
  decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: {
    type: "BPE",
    dropout: null,
    unk_token: null,
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: false,
    byte_fallback: false,
    ignore_merges: false,
    vocab: Object.fromEntries(symbols.map((symbol, index) => [symbol, index])),
    merges: []
  }
})
