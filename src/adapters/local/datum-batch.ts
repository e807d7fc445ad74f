import { Effect } from "effect"
import {
  type Datum,
  InvalidRequestError,
  type TensorData,
  toInts,
  type TransformerArchitecture
} from "../../ports/index.js"
import { makeTokenBatch, type TokenBatch, type TokenSequence } from "./token-batch.js"

const isTokenId = (vocabSize: number) => (id: number) => Number.isInteger(id) && id >= 0 && id < vocabSize

/** A 1-D tensor of `length` elements of `dtype`, or what is wrong with it. */
const vectorProblem = (
  tensor: TensorData | undefined,
  dtype: TensorData["dtype"],
  length: number
): string | undefined => {
  if (tensor === undefined) return "is missing"
  if (tensor.dtype !== dtype) return `must be ${dtype}, got ${tensor.dtype}`
  if (tensor.shape !== undefined && (tensor.shape.length !== 1 || tensor.shape[0] !== tensor.data.length)) {
    return `must be 1-D, got shape [${tensor.shape.join(", ")}] for ${tensor.data.length} values`
  }
  if (tensor.data.length !== length) return `has ${tensor.data.length} values, model_input has ${length} tokens`
  return undefined
}

/** The token sequence of one datum, or what is wrong with it. */
const datumSequence = (datum: Datum, architecture: TransformerArchitecture): TokenSequence | string => {
  const { vocabSize, contextLength } = architecture
  const inputs = toInts(datum.model_input)
  if (inputs.length === 0) return "model_input is empty"
  if (inputs.length > contextLength) {
    return `model_input has ${inputs.length} tokens, more than the model's context length ${contextLength}`
  }
  if (!inputs.every(isTokenId(vocabSize))) return `model_input holds a token id outside [0, ${vocabSize})`
  const targets = datum.loss_fn_inputs["target_tokens"]
  const targetsProblem = vectorProblem(targets, "int64", inputs.length)
  if (targetsProblem !== undefined) return `loss_fn_inputs.target_tokens ${targetsProblem}`
  if (!targets!.data.every(isTokenId(vocabSize))) {
    return `loss_fn_inputs.target_tokens holds a token id outside [0, ${vocabSize})`
  }
  const weights = datum.loss_fn_inputs["weights"]
  const weightsProblem = vectorProblem(weights, "float32", inputs.length)
  if (weightsProblem !== undefined) return `loss_fn_inputs.weights ${weightsProblem}`
  if (!weights!.data.every(Number.isFinite)) return "loss_fn_inputs.weights holds a value that is not finite"
  return { inputs, targets: targets!.data, weights: weights!.data }
}

/**
 * Checks every datum of a cross-entropy request against the model and pads them into one
 * batch. Fails with an `InvalidRequestError` naming the first bad datum and key, before any
 * compute runs.
 */
export const crossEntropyBatch = (
  operation: string,
  data: ReadonlyArray<Datum>,
  architecture: TransformerArchitecture
): Effect.Effect<TokenBatch, InvalidRequestError> =>
  Effect.suspend(() => {
    if (data.length === 0) return Effect.fail(new InvalidRequestError({ operation, message: "no datums were given" }))
    const sequences: Array<TokenSequence> = []
    for (const [index, datum] of data.entries()) {
      const sequence = datumSequence(datum, architecture)
      if (typeof sequence === "string") {
        return Effect.fail(new InvalidRequestError({ operation, message: `datum ${index}: ${sequence}` }))
      }
      sequences.push(sequence)
    }
    return Effect.succeed(makeTokenBatch(sequences))
  })
