import { Schema } from "effect"

/** A run of token ids. */
export const EncodedTextChunk = Schema.Struct({
  type: Schema.Literal("encoded_text"),
  tokens: Schema.Array(Schema.Int)
})
export type EncodedTextChunk = typeof EncodedTextChunk.Type

/**
 * A dense float32 tensor (row-major `data` of `shape`), such as an image or a row of tabular
 * features. A sous extension of the protocol, read by the classifier models; it occupies
 * one position, so its datum has one target (the class id) and one weight.
 */
export const FloatTensorChunk = Schema.Struct({
  type: Schema.Literal("float_tensor"),
  data: Schema.Array(Schema.Finite),
  shape: Schema.Array(Schema.Int)
})
export type FloatTensorChunk = typeof FloatTensorChunk.Type

/** One piece of a model input. */
export const ModelInputChunk = Schema.Union([EncodedTextChunk, FloatTensorChunk])
export type ModelInputChunk = typeof ModelInputChunk.Type

/** What a model reads: a sequence of chunks (protocol `ModelInput{chunks}`). */
export const ModelInput = Schema.Struct({
  chunks: Schema.Array(ModelInputChunk)
})
export type ModelInput = typeof ModelInput.Type

/** A model input made of one text chunk. */
export const fromInts = (tokens: ReadonlyArray<number>): ModelInput => ({
  chunks: [{ type: "encoded_text", tokens }]
})

/** A model input made of one float tensor (an image, a feature row). */
export const fromFloats = (data: ReadonlyArray<number>, shape: ReadonlyArray<number>): ModelInput => ({
  chunks: [{ type: "float_tensor", data, shape }]
})

/** Positions one chunk occupies: its tokens, or one for a float tensor. */
const chunkLength = (chunk: ModelInputChunk): number => chunk.type === "encoded_text" ? chunk.tokens.length : 1

/**
 * All token ids of a model input, chunk after chunk. Throws on a float tensor chunk, which
 * has no token ids: call it on text inputs only.
 */
export const toInts = (input: ModelInput): ReadonlyArray<number> =>
  input.chunks.flatMap((chunk) => {
    if (chunk.type !== "encoded_text") throw new Error(`a ${chunk.type} chunk has no token ids`)
    return chunk.tokens
  })

/** Number of positions a model input occupies. */
export const inputLength = (input: ModelInput): number =>
  input.chunks.reduce((total, chunk) => total + chunkLength(chunk), 0)
