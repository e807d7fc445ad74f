import { Schema } from "effect"

/** A run of token ids. The only chunk type sous models read today. */
export const EncodedTextChunk = Schema.Struct({
  type: Schema.Literal("encoded_text"),
  tokens: Schema.Array(Schema.Int)
})
export type EncodedTextChunk = typeof EncodedTextChunk.Type

/** What a model reads: a sequence of chunks (protocol `ModelInput{chunks}`). */
export const ModelInput = Schema.Struct({
  chunks: Schema.Array(EncodedTextChunk)
})
export type ModelInput = typeof ModelInput.Type

/** A model input made of one text chunk. */
export const fromInts = (tokens: ReadonlyArray<number>): ModelInput => ({
  chunks: [{ type: "encoded_text", tokens }]
})

/** All token ids of a model input, chunk after chunk. */
export const toInts = (input: ModelInput): ReadonlyArray<number> => input.chunks.flatMap((chunk) => chunk.tokens)

/** Number of positions a model input occupies. */
export const inputLength = (input: ModelInput): number =>
  input.chunks.reduce((total, chunk) => total + chunk.tokens.length, 0)
