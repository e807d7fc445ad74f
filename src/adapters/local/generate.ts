import * as tf from "@tensorflow/tfjs"
import { logprobOf, sampleToken, seededUniform, type TokenSampling } from "./token-sampler.js"
import { lookupIn } from "./parameters.js"
import type { SamplerParams } from "./sampler-weights.js"
import { makeStopCheck, type StopRule } from "./stop-sequences.js"
import { type LayerCache, transformerLogits, transformerStep } from "./transformer.js"

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

/** The logits [rows, vocab] of a step and every layer's cache after it, kept out of any tidy scope. */
interface Step {
  readonly logits: tf.Tensor2D
  readonly cache: ReadonlyArray<LayerCache>
}

/** `make` in a tidy scope that keeps only the step it returns (tidy's types take no readonly arrays). */
const tidyStep = (make: () => Step): Step => tf.tidy(() => make() as unknown as tf.TensorContainer) as unknown as Step

const disposeStep = (step: Step) => tf.dispose([step.logits, ...step.cache.flatMap(({ keys, values }) => [keys, values])])

/**
 * Draws `numSamples` continuations of `prompt` together. The prompt goes through the model
 * once; its keys and values are copied to every row, and each new token then costs one
 * position per row (a KV cache). Deterministic for a given seed.
 */
export const generate = (
  params: SamplerParams,
  prompt: ReadonlyArray<number>,
  numSamples: number,
  options: GenerateOptions
): Array<Generated> => {
  const { architecture } = params
  const weight = lookupIn(params)
  const uniform = seededUniform(options.seed)
  const room = Math.min(options.maxTokens, architecture.contextLength - prompt.length)
  const outputs: Array<Generated> = Array.from(
    { length: numSamples },
    () => ({ tokens: [], logprobs: [], stopReason: "length" })
  )
  if (room <= 0) return outputs
  const stopChecks = outputs.map(() => makeStopCheck(options.stop))
  const running = new Set(outputs.keys())
  let step = tidyStep(() => {
    const first = transformerStep(architecture, weight, tf.tensor2d([...prompt], [1, prompt.length], "int32"))
    const copies = (t: tf.Tensor4D) => tf.tile(t, [numSamples, 1, 1, 1]) as tf.Tensor4D
    return {
      logits: tf.tile(first.logits, [numSamples, 1]) as tf.Tensor2D,
      cache: first.cache.map(({ keys, values }) => ({ keys: copies(keys), values: copies(values) }))
    }
  })
  try {
    for (let made = 0; ; made++) {
      const vocabSize = architecture.vocabSize
      const logits = step.logits.dataSync() as Float32Array
      // A finished row rides along (equal lengths keep the batch unpadded); its logits are ignored.
      const next = outputs.map(() => 0)
      for (const row of running) {
        const output = outputs[row]!
        const { token, logprob } = sampleToken(logits.subarray(row * vocabSize, (row + 1) * vocabSize), options, uniform)
        next[row] = token
        output.tokens.push(token)
        output.logprobs.push(logprob)
        if (stopChecks[row]!(output.tokens)) {
          outputs[row] = { ...output, stopReason: "stop" }
          running.delete(row)
        }
      }
      if (made + 1 >= room || running.size === 0) return outputs
      const previous = step
      step = tidyStep(() => transformerStep(architecture, weight, tf.tensor2d(next, [numSamples, 1], "int32"), previous.cache))
      disposeStep(previous)
    }
  } finally {
    disposeStep(step)
  }
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
