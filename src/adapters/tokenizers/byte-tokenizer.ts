import { Layer } from "effect"
import { Tokenizer } from "../../ports/index.js"

/** The special tokens a byte tokenizer has unless told otherwise: sequence markers and ChatML turns. */
export const defaultByteSpecialTokens: ReadonlyArray<string> = ["<|bos|>", "<|eos|>", "<|pad|>", "<|im_start|>", "<|im_end|>"]

// What `decode` shows for an id outside the vocabulary, as a UTF-8 decoder does for a bad byte.
const replacementCharacter = "\uFFFD"

/**
 * A tokenizer whose ids 0..255 are the bytes of the UTF-8 text and whose special tokens take
 * ids 256, 257, ... in the order given. `encode` treats every string as plain bytes, so text
 * that spells `<|eos|>` is seven byte tokens, never the special one: renderers insert special
 * tokens by id, and user data cannot forge them. `decode` turns bytes back into text
 * (invalid UTF-8 and unknown ids become U+FFFD) and special ids into their names. The `id`,
 * `byte-v1` plus `+` and the specials joined by `,`, is recorded in checkpoints because the
 * ids depend on the specials and their order.
 *
 * Throws a `RangeError` on an empty, repeated, or comma-holding special token: the list is
 * program configuration, and such a list would make ids or the `id` ambiguous.
 */
export const makeByteTokenizer = (specialTokens: ReadonlyArray<string> = defaultByteSpecialTokens): Tokenizer["Service"] => {
  const seen = new Set<string>()
  for (const token of specialTokens) {
    if (token === "" || token.includes(",") || seen.has(token)) {
      throw new RangeError(`invalid byte tokenizer special token ${JSON.stringify(token)}: it must be non-empty, unique and free of ','`)
    }
    seen.add(token)
  }
  const specialIds = Object.fromEntries(specialTokens.map((token, index) => [token, 256 + index]))
  const encoder = new TextEncoder()
  const decoder = new TextDecoder("utf-8")

  const decode = (tokens: ReadonlyArray<number>): string => {
    // Runs of bytes are decoded whole, so a multi-byte character spread over several ids
    // comes out as one; a special token ends the run, so bytes never join across it.
    const bytes: Array<number> = []
    let text = ""
    const flushBytes = () => {
      text += decoder.decode(Uint8Array.from(bytes))
      bytes.length = 0
    }
    for (const id of tokens) {
      if (Number.isInteger(id) && id >= 0 && id < 256) {
        bytes.push(id)
        continue
      }
      flushBytes()
      text += specialTokens[id - 256] ?? replacementCharacter
    }
    flushBytes()
    return text
  }

  return Tokenizer.of({
    id: specialTokens.length === 0 ? "byte-v1" : `byte-v1+${specialTokens.join(",")}`,
    vocabSize: 256 + specialTokens.length,
    specialTokens: specialIds,
    encode: (text) => Array.from(encoder.encode(text)),
    decode
  })
}

/** A layer with {@link makeByteTokenizer}'s tokenizer for the given special tokens. */
export const byteTokenizerLayer = (specialTokens: ReadonlyArray<string> = defaultByteSpecialTokens): Layer.Layer<Tokenizer> =>
  Layer.sync(Tokenizer, () => makeByteTokenizer(specialTokens))
