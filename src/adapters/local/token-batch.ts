/** One training sequence: position i reads `inputs[i]`, predicts `targets[i]` with loss weight `weights[i]`. */
export interface TokenSequence {
  readonly inputs: ArrayLike<number>
  readonly targets: ArrayLike<number>
  readonly weights: ArrayLike<number>
}

/**
 * Sequences of different lengths padded on the right to the longest one, flattened
 * row-major ([batchSize, length]). Padded positions read and predict token 0 with weight 0,
 * so they add nothing to the loss or its gradients.
 */
export interface TokenBatch {
  readonly batchSize: number
  readonly length: number
  readonly inputs: Int32Array
  readonly targets: Int32Array
  readonly weights: Float32Array
  /** The real (unpadded) length of each sequence. */
  readonly lengths: ReadonlyArray<number>
}

/** Pads and flattens sequences into one batch. Throws on an empty batch or mismatched lengths. */
export const makeTokenBatch = (sequences: ReadonlyArray<TokenSequence>): TokenBatch => {
  if (sequences.length === 0) throw new Error("A token batch needs at least one sequence")
  const lengths = sequences.map((sequence) => sequence.inputs.length)
  const length = Math.max(...lengths)
  const size = sequences.length * length
  const inputs = new Int32Array(size)
  const targets = new Int32Array(size)
  const weights = new Float32Array(size)
  sequences.forEach((sequence, row) => {
    const n = sequence.inputs.length
    if (sequence.targets.length !== n || sequence.weights.length !== n) {
      throw new Error(`Sequence ${row}: inputs, targets and weights must have the same length`)
    }
    const offset = row * length
    for (let i = 0; i < n; i++) {
      inputs[offset + i] = sequence.inputs[i]!
      targets[offset + i] = sequence.targets[i]!
      weights[offset + i] = sequence.weights[i]!
    }
  })
  return { batchSize: sequences.length, length, inputs, targets, weights, lengths }
}
