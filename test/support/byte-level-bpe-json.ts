/**
 * The `tokenizer.json` of a byte-level BPE tokenizer, the shape test tokenizers share: a
 * ByteLevel pre-tokenizer and decoder, no normalizer, and the given vocabulary, merges,
 * added tokens and post-processor.
 */

/** A token added to the vocabulary (special or not), as tokenizer.json lists it. */
export const addedToken = (content: string, id: number, special: boolean) => ({
  id,
  content,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: false,
  special
})

/** The tokenizer.json, as an object to write with JSON.stringify. */
export const byteLevelBpeJson = (options: {
  readonly vocab: Readonly<Record<string, number>>
  readonly merges: ReadonlyArray<readonly [string, string]>
  readonly added: ReadonlyArray<ReturnType<typeof addedToken>>
  readonly postProcessor?: unknown
}) => ({
  version: "1.0",
  truncation: null,
  padding: null,
  added_tokens: options.added,
  normalizer: null,
  pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
  post_processor: options.postProcessor ?? null,
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
    vocab: options.vocab,
    merges: options.merges
  }
})
