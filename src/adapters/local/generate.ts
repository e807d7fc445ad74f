import * as tf from "@tensorflow/tfjs"
import { targetLogprobs } from "./activation-kernels.js"
import { sampleToken, seededUniform, type TokenSampling } from "./token-sampler.js"
import { decodingWeights, languageModelStep, modelLogits, outputSize } from "./model.js"
import { lookupIn } from "./parameters.js"
import type { SamplerParams } from "./sampler-weights.js"
import { makeStopCheck, type StopRule } from "./stop-sequences.js"
import type { LayerCache } from "./transformer.js"

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
  const uniform = seededUniform(options.seed)
  const room = Math.min(options.maxTokens, architecture.contextLength - prompt.length)
  const outputs: Array<Generated> = Array.from(
    { length: numSamples },
    () => ({ tokens: [], logprobs: [], stopReason: "length" })
  )
  if (room <= 0 || numSamples === 0) return outputs
  const { weight, dispose } = decodingWeights(architecture, lookupIn(params))
  const decode = (): Array<Generated> => {
    const stopChecks = outputs.map(() => makeStopCheck(options.stop))
    const running = new Set(outputs.keys())
    let step = tidyStep(() => {
      const first = languageModelStep(architecture, weight, tf.tensor2d([...prompt], [1, prompt.length], "int32"))
      // Concatenated copies, not tf.tile: wasm's Tile kernel took about 0.6 ms a cache here.
      const copies = <T extends tf.Tensor>(t: T) => tf.concat(Array.from({ length: numSamples }, () => t)) as T
      return {
        logits: copies(first.logits),
        cache: first.cache.map(({ keys, values }) => ({ keys: copies(keys), values: copies(values) }))
      }
    })
    const vocabSize = outputSize(architecture)
    // A Hugging Face model's head may be padded beyond the tokenizer's ids, which are all it draws.
    const drawable = architecture.kind === "hf" ? architecture.vocabSize : vocabSize
    try {
      for (let made = 0; ; made++) {
        const logits = step.logits.dataSync() as Float32Array
        // A finished row rides along (equal lengths keep the batch unpadded); its logits are ignored.
        const next = outputs.map(() => 0)
        for (const row of running) {
          const output = outputs[row]!
          const { token, logprob } = sampleToken(logits.subarray(row * vocabSize, (row + 1) * vocabSize), options, uniform, drawable)
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
        step = tidyStep(() => languageModelStep(architecture, weight, tf.tensor2d(next, [numSamples, 1], "int32"), previous.cache))
        disposeStep(previous)
      }
    } finally {
      disposeStep(step)
    }
  }
  try {
    return decode()
  } finally {
    dispose()
  }
}

// Positions per forward pass when scoring prompts together: bounds the logits a pass holds
// ([rows, length, vocab] floats) while still filling the products.
const scoringPositions = 8192

/**
 * For each prompt, log p(prompt[i] | prompt[..i]) of every token; `null` for the first, which
 * has no context. Prompts of the same length are scored together, in passes of up to
 * {@link scoringPositions} positions. Never padded: a pass over rows of one length gives each
 * row the very numbers a pass of that row alone gives, so a batch scores as single calls do
 * (padding would change the length of the sums in attention, and so their rounding).
 */
export const promptsLogprobs = (
  params: SamplerParams,
  prompts: ReadonlyArray<ReadonlyArray<number>>
): Array<Array<number | null>> => {
  const scores = new Array<Array<number | null>>(prompts.length)
  const byLength = new Map<number, Array<number>>()
  prompts.forEach((prompt, index) => {
    const same = byLength.get(prompt.length)
    if (same === undefined) byLength.set(prompt.length, [index])
    else same.push(index)
  })
  for (const [length, indices] of byLength) {
    const perPass = Math.max(1, Math.floor(scoringPositions / length))
    for (let from = 0; from < indices.length; from += perPass) {
      const rows = indices.slice(from, from + perPass).map((index) => prompts[index]!)
      // Position i predicts token i + 1: the targets are each prompt shifted by one (the last
      // position's target is a placeholder). Only the targets' log-probabilities come back,
      // not the logits. The tensor leaves the tidy scope, not its values: tidy walks what it
      // returns, index by index for a typed array.
      const scored = tf.tidy(() => {
        const tokens = tf.tensor2d(rows.flat(), [rows.length, length], "int32")
        const targets = tf.tensor2d(rows.flatMap((prompt) => [...prompt.slice(1), 0]), [rows.length, length], "int32")
        return targetLogprobs(modelLogits(params.architecture, lookupIn(params), { kind: "tokens", ids: tokens }), targets)
      })
      const logprobs = scored.dataSync() as Float32Array
      scored.dispose()
      rows.forEach((prompt, row) => {
        scores[indices[from + row]!] = prompt.map((_, i) => (i === 0 ? null : logprobs[row * length + i - 1]!))
      })
    }
  }
  return scores
}
