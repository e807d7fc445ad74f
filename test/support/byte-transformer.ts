import type { TransformerArchitecture } from "../../src/ports/index.js"
import { makeByteTokenizer } from "../../src/adapters/tokenizers/byte-tokenizer.js"

/**
 * The smallest chat model the stage tests train and sample: one layer of width 16 over the
 * byte tokenizer's vocabulary, fast on any machine, with `contextLength` positions.
 */
export const byteTransformer = (contextLength: number): TransformerArchitecture => ({
  kind: "transformer",
  vocabSize: makeByteTokenizer().vocabSize,
  contextLength,
  width: 16,
  layers: 1,
  heads: 2
})
