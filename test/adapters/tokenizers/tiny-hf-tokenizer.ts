/**
 * A tiny GPT-2 style (byte-level BPE) `tokenizer.json` built in code, so tests need no
 * download: the byte-level symbols of space, newline and printable ASCII, three merges, and
 * added tokens after them.
 */
import { addedToken, byteLevelBpeJson } from "../../support/byte-level-bpe-json.js"

// Byte-level BPE spells a space as U+0120 and a newline as U+010A; printable ASCII is itself.
const space = "\u0120"
const newline = "\u010A"
const symbols = [space, newline, ...Array.from({ length: 126 - 33 + 1 }, (_, i) => String.fromCharCode(33 + i))]
const merges: ReadonlyArray<readonly [string, string]> = [[space, "t"], ["h", "e"], [space + "t", "he"]]

/** The special added tokens, in id order after the vocabulary. */
export const tinySpecials = ["<|bos|>", "<|eos|>", "<|im_start|>", "<|im_end|>"] as const

/** An added token that is not special: it has an id but is no special token. */
export const tinyPlainAdded = "<|tool|>"

/** Ids: the symbols, then the merges, then the special tokens, then {@link tinyPlainAdded}. */
export const tinyIds = {
  mergedThe: symbols.length + merges.length - 1,
  firstSpecial: symbols.length + merges.length,
  plainAdded: symbols.length + merges.length + tinySpecials.length,
  vocabSize: symbols.length + merges.length + tinySpecials.length + 1
}

/**
 * The tokenizer.json of the tiny tokenizer. Its post-processor prepends `<|bos|>` when a
 * caller asks the library to add special tokens, as Llama-style tokenizers do. `extraMerge`
 * adds one more merge, whose piece takes the id after every other: a changed tokenizer.
 */
export const tinyTokenizerJson = (options: { readonly extraMerge?: readonly [string, string] } = {}) => {
  const allMerges = options.extraMerge === undefined ? merges : [...merges, options.extraMerge]
  const vocab: Record<string, number> = {}
  symbols.forEach((symbol, index) => (vocab[symbol] = index))
  merges.forEach(([left, right], index) => (vocab[left + right] = symbols.length + index))
  if (options.extraMerge !== undefined) vocab[options.extraMerge.join("")] = tinyIds.vocabSize
  return byteLevelBpeJson({
    vocab,
    merges: allMerges,
    added: [
      ...tinySpecials.map((content, index) => addedToken(content, tinyIds.firstSpecial + index, true)),
      addedToken(tinyPlainAdded, tinyIds.plainAdded, false)
    ],
    postProcessor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<|bos|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [],
      special_tokens: { "<|bos|>": { id: "<|bos|>", ids: [tinyIds.firstSpecial], tokens: ["<|bos|>"] } }
    }
  })
}
