import { Effect } from "effect"
import {
  type Datum,
  fromInts,
  InvalidRequestError,
  type SamplingClient,
  StartingWeights,
  toInts,
  TrainingBackend
} from "../../ports/index.js"
import { type PreferencePair, PreferenceKeys, type RenderedPair } from "./preference-data.js"
import { defineStage } from "../run/stage.js"

/**
 * The sequence that scores a datum: its input followed by its last target. `computeLogprobs`
 * scores a sequence token by token (null for the first), so its token i + 1 is target i.
 */
const scoredSequence = (datum: Datum) => {
  const targets = datum.loss_fn_inputs["target_tokens"]!.data
  return fromInts([...toInts(datum.model_input), targets[targets.length - 1]!])
}

const scored = Effect.fnUntraced(function*(
  logprobs: ReadonlyArray<number | null>,
  datum: Datum,
  index: number
) {
  const targets = datum.loss_fn_inputs["target_tokens"]!.data.length
  const values = logprobs.slice(1)
  if (values.length !== targets || values.some((value) => value === null || !Number.isFinite(value))) {
    return yield* new InvalidRequestError({
      operation: "computeLogprobs",
      message: `the reference scored datum ${index} with ${values.length} logprobs for ${targets} target tokens, or not all finite`
    })
  }
  return Float32Array.from(values as ReadonlyArray<number>)
})

/**
 * The reference logprobs of every datum of `pairs` under one sampler, in one batched
 * submission, so the backend can score them together.
 */
const scorePairs = Effect.fnUntraced(function*(sampler: SamplingClient["Service"], pairs: ReadonlyArray<RenderedPair>) {
  const data = pairs.flatMap((pair) => [pair.chosen, pair.rejected])
  const answers = yield* (yield* sampler.computeLogprobsBatch(data.map(scoredSequence))).result
  const logprobs: Array<Float32Array> = []
  for (const [index, answer] of answers.entries()) logprobs.push(yield* scored(answer, data[index]!, index))
  return pairs.map((pair, index): PreferencePair => ({
    ...pair,
    referenceChosen: logprobs[2 * index]!,
    referenceRejected: logprobs[2 * index + 1]!
  }))
})

/**
 * Scores the rendered train and held-out pairs once with the frozen starting weights (the
 * DPO reference): a sampler over them lives for this stage only. The starting weights never
 * change, so a resumed run computes the very same numbers again instead of storing them in
 * every checkpoint.
 */
export const referenceLogprobs = defineStage({
  name: "reference-logprobs",
  rerunOnResume: true,
  description: "score every chosen and rejected reply with the starting weights (the frozen DPO reference)",
  reads: [PreferenceKeys.trainRendered, PreferenceKeys.evalRendered],
  writes: [PreferenceKeys.trainPairs, PreferenceKeys.evalPairs],
  run: (context) =>
    Effect.scoped(Effect.gen(function*() {
      const start = yield* StartingWeights
      const sampler = yield* (yield* TrainingBackend).createSamplingClient(start.source)
      context.set(PreferenceKeys.trainPairs, yield* scorePairs(sampler, context.get(PreferenceKeys.trainRendered)))
      context.set(PreferenceKeys.evalPairs, yield* scorePairs(sampler, context.get(PreferenceKeys.evalRendered)))
      yield* Effect.logInfo(`reference logprobs from ${start.description}`)
    }))
})
