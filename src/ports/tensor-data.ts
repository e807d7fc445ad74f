import { Schema } from "effect"

/** Element type of a {@link TensorData}; raw lists take their dtype from the key they fill. */
export const TensorDtype = Schema.Literals(["int64", "float32"])
export type TensorDtype = typeof TensorDtype.Type

/**
 * A dense tensor as flat data plus an optional shape (row-major), as the Tinker protocol
 * sends it. A missing shape means a 1-D tensor of `data.length` elements.
 */
export const TensorData = Schema.Struct({
  data: Schema.Array(Schema.Finite),
  dtype: TensorDtype,
  shape: Schema.optionalKey(Schema.Array(Schema.Int))
})
export type TensorData = typeof TensorData.Type

/** Builds an int64 tensor (token ids). */
export const int64 = (data: ReadonlyArray<number>): TensorData => ({ data, dtype: "int64" })

/** Builds a float32 tensor (weights, advantages, logprobs). */
export const float32 = (data: ReadonlyArray<number>): TensorData => ({ data, dtype: "float32" })
