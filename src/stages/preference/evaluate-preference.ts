import { Effect } from "effect"
import { messageOf } from "../../ports/thrown-message.js"
import { InvalidRequestError, MetricsSink } from "../../ports/index.js"
import { dpoLoss } from "./dpo-loss.js"
import { pairDatums, pairReferenceLogprobs } from "./dpo-step-loss.js"
import { withEval } from "../evaluation/eval-summary.js"
import { forwardInBatches } from "../evaluation/forward-batches.js"
import { PreferenceKeys } from "./preference-data.js"
import { RunKeys } from "../run/run-keys.js"
import { defineStage } from "../run/stage.js"

/** DPO's beta (the margins are reported scaled by it) and how many pairs go into one forward call. */
export interface EvaluatePreferenceConfig {
  readonly beta: number
  readonly batchSize: number
}

/**
 * Held-out preference metrics from forward passes without gradients, with DPO's own math
 * ({@link dpoLoss}) on the policy's and the reference's logprobs of each reply:
 * `eval_preference_accuracy` (share of pairs whose chosen reply gained more over the
 * reference than the rejected one), `eval_margin` (mean β-scaled margin) and `eval_dpo_loss`
 * (per pair). `eval_policy_accuracy` is the share of pairs whose chosen reply the policy
 * itself finds more likely than the rejected one, reference aside: unlike the others it says
 * something before training, when policy and reference are the same model. Sent as an `eval`
 * event at the current step and kept in the run summary (best: highest preference accuracy).
 */
export const evaluatePreference = (config: EvaluatePreferenceConfig) =>
  defineStage({
    name: "eval",
    description: `held-out preference accuracy, margin and DPO loss (beta ${config.beta}), batches of ${config.batchSize} pairs`,
    reads: [PreferenceKeys.evalPairs, RunKeys.summary],
    writes: [RunKeys.summary],
    run: Effect.fnUntraced(function*(context) {
      const pairs = context.get(PreferenceKeys.evalPairs)
      if (pairs.length === 0) return yield* Effect.logWarning("no held-out pairs; eval skipped")
      const data = pairDatums(pairs)
      const logprobs: Array<Float32Array> = []
      for (const output of yield* forwardInBatches(data, 2 * config.batchSize)) {
        for (const out of output.loss_fn_outputs) {
          const values = out["logprobs"]
          if (values === undefined) {
            return yield* new InvalidRequestError({ operation: "forward", message: "the forward pass returned no logprobs for a held-out reply" })
          }
          logprobs.push(Float32Array.from(values.data))
        }
      }
      const measure = (referenceLogprobs: ReadonlyArray<Float32Array>) =>
        Effect.try({
          try: () => dpoLoss({ beta: config.beta, referenceLogprobs })(data, logprobs),
          catch: (error) => new InvalidRequestError({ operation: "eval", message: messageOf(error), cause: error })
        })
      const dpo = yield* measure(pairReferenceLogprobs(pairs))
      // Against a reference of all zeros the "margin" is the policy's own log-odds of chosen over rejected.
      const own = yield* measure(logprobs.map((values) => new Float32Array(values.length)))
      const metrics = {
        eval_preference_accuracy: dpo.metrics["accuracy:mean"]!,
        eval_margin: dpo.metrics["margin:mean"]!,
        eval_dpo_loss: dpo.loss / pairs.length,
        eval_policy_accuracy: own.metrics["accuracy:mean"]!,
        eval_pairs: pairs.length
      }
      yield* (yield* MetricsSink).event({ name: "eval", step: context.step, data: metrics })
      context.set(
        RunKeys.summary,
        withEval(
          context.get(RunKeys.summary),
          context.step,
          metrics,
          (candidate, best) => candidate["eval_preference_accuracy"]! > best["eval_preference_accuracy"]!
        )
      )
    })
  })
