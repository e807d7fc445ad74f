import type { Datum } from "../../ports/index.js"
import { forwardBackwardCustom } from "../training/custom-loss.js"
import { trainedTokens } from "../rendering/datum-builder.js"
import { dpoLoss } from "./dpo-loss.js"
import { type PreferencePair, PreferenceKeys } from "./preference-data.js"
import type { StepLoss } from "../training/train-step.js"

/** The datums of pairs in the order DPO takes them: each chosen datum, then its rejected one. */
export const pairDatums = (pairs: ReadonlyArray<PreferencePair>): Array<Datum> =>
  pairs.flatMap((pair) => [pair.chosen, pair.rejected])

/** The reference logprobs of pairs, in the order of {@link pairDatums}. */
export const pairReferenceLogprobs = (pairs: ReadonlyArray<PreferencePair>): Array<Float32Array> =>
  pairs.flatMap((pair) => [pair.referenceChosen, pair.referenceRejected])

/**
 * DPO as a training step: `forwardBackwardCustom` with {@link dpoLoss} on the batch's pairs
 * against their reference logprobs. Reports the loss per pair, the share of pairs whose
 * chosen reply gained more over the reference than the rejected one (`preference_accuracy`),
 * the mean β-scaled margin, and the reply tokens compared.
 */
export const dpoStepLoss = (beta: number): StepLoss<ReadonlyArray<PreferencePair>> => ({
  description: `DPO (beta ${beta}) on chosen/rejected pairs against the reference`,
  batch: PreferenceKeys.pairBatch,
  submit: (client, batch) =>
    forwardBackwardCustom(client, pairDatums(batch), dpoLoss({ beta, referenceLogprobs: pairReferenceLogprobs(batch) })),
  metrics: (output, batch) => ({
    loss: (output.metrics["loss:sum"] ?? Number.NaN) / Math.max(batch.length, 1),
    preference_accuracy: output.metrics["accuracy:mean"] ?? Number.NaN,
    margin: output.metrics["margin:mean"] ?? Number.NaN,
    tokens: pairDatums(batch).reduce((total, datum) => total + trainedTokens(datum), 0)
  })
})
