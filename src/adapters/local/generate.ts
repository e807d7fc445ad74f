import * as tf from "@tensorflow/tfjs"
import { logprobOf, sampleToken, seededUniform, type TokenSampling } from "./token-sampler.js"
import { lookupIn } from "./parameters.js"
import type { SamplerParams } from "./sampler-weights.js"
import { makeStopCheck, type StopRule } from "./stop-sequences.js"
import { transformerLogits } from "./transformer.js"

/** Settings of one generation call. */
export interface GenerateOptions extends TokenSampling {
  /** At most this many new tokens; generation also stops when the context is full. */
  readonly maxTokens: number
  /** Where a sequence ends; the token that ends it is kept as its last token. */
  readonly stop: StopRule
  readonly seed: number
}

/** One generated continuation. */
export interface Generated {
  readonly tokens: Array<number>
  readonly logprobs: Array<number>
  readonly stopReason: "length" | "stop"
}

/** Logits of the last position of each sequence, [n][vocab]. */
const lastLogits = (params: SamplerParams, sequences: ReadonlyArray<ReadonlyArray<number>>): Array<Float32Array> => {
  const n = sequences.length
  const length = sequences[0]!.length
  const vocabSize = params.architecture.vocabSize
  const flat = tf.tidy(() => {
    const tokens = tf.tensor2d(sequences.flat(), [n, length], "int32")
    return transformerLogits(params.architecture, lookupIn(params), tokens).slice([0, length - 1, 0], [n, 1, vocabSize]).dataSync() as Float32Array
  })
  return sequences.map((_, row) => flat.subarray(row * vocabSize, (row + 1) * vocabSize))
}

/**
 * Draws `numSamples` continuations of `prompt` together, one forward pass per new token
 * (no cache: the models are small). Deterministic for a given seed.
 */
export const generate = (
  params: SamplerParams,
  prompt: ReadonlyArray<number>,
  numSamples: number,
  options: GenerateOptions
): Array<Generated> => {
  const uniform = seededUniform(options.seed)
  const room = Math.min(options.maxTokens, params.architecture.contextLength - prompt.length)
  const outputs: Array<Generated> = Array.from(
    { length: numSamples },
    () => ({ tokens: [], logprobs: [], stopReason: "length" })
  )
  const sequences = outputs.map(() => [...prompt])
  const stopChecks = outputs.map(() => makeStopCheck(options.stop))
  const running = new Set(outputs.keys())
  for (let step = 0; step < room && running.size > 0; step++) {
    const logits = lastLogits(params, sequences)
    for (const [row, output] of outputs.entries()) {
      if (!running.has(row)) {
        // A finished row rides along (equal lengths keep the batch unpadded); its logits are ignored.
        sequences[row]!.push(0)
        continue
      }
      const { token, logprob } = sampleToken(logits[row]!, options, uniform)
      sequences[row]!.push(token)
      output.tokens.push(token)
      output.logprobs.push(logprob)
      if (stopChecks[row]!(output.tokens)) {
        outputs[row] = { ...output, stopReason: "stop" }
        running.delete(row)
      }
    }
  }
  return outputs
}

/** log p(prompt[i] | prompt[..i]) for every token; `null` for the first, which has no context. */
export const promptLogprobs = (params: SamplerParams, prompt: ReadonlyArray<number>): Array<number | null> => {
  const vocabSize = params.architecture.vocabSize
  const logits = tf.tidy(() =>
    transformerLogits(params.architecture, lookupIn(params), tf.tensor2d([...prompt], [1, prompt.length], "int32")).dataSync() as Float32Array
  )
  return prompt.map((token, i) =>
    i === 0 ? null : logprobOf(logits.subarray((i - 1) * vocabSize, i * vocabSize), token)
  )
}
