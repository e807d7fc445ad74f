import type { Datum, ModelInputChunk, TensorData } from "../../ports/index.js"

const chunkBytes = (chunk: ModelInputChunk): number =>
  chunk.type === "encoded_text" ? chunk.tokens.length * 4 : chunk.data.length * 4 + chunk.shape.length * 8

const tensorBytes = (tensor: TensorData): number =>
  tensor.data.length * (tensor.dtype === "int64" ? 8 : 4) + (tensor.shape?.length ?? 0) * 8

/**
 * About how many bytes a datum takes in a protobuf forward/backward request (before
 * compression): int32 tokens, tensors in their dtype. What the chunk byte limit is applied to.
 */
export const estimateDatumBytes = (datum: Datum): number =>
  datum.model_input.chunks.reduce((total, chunk) => total + chunkBytes(chunk), 0) +
  Object.values(datum.loss_fn_inputs).reduce((total, tensor) => total + tensorBytes(tensor), 0)

/**
 * Cuts a batch, in order, into chunks of at most `maxDatums` datums and about `maxBytes`
 * estimated bytes; a datum bigger than `maxBytes` goes alone in its own chunk.
 */
export const chunkBatch = (
  data: ReadonlyArray<Datum>,
  limits: { readonly maxDatums: number; readonly maxBytes: number }
): ReadonlyArray<ReadonlyArray<Datum>> => {
  const chunks: Array<Array<Datum>> = []
  let current: Array<Datum> = []
  let bytes = 0
  for (const datum of data) {
    const size = estimateDatumBytes(datum)
    if (current.length > 0 && (current.length >= limits.maxDatums || bytes + size > limits.maxBytes)) {
      chunks.push(current)
      current = []
      bytes = 0
    }
    current.push(datum)
    bytes += size
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}
