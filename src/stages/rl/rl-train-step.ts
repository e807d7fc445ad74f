import { Effect } from "effect"
import { RlKeys, type RolloutBatch } from "./rl-keys.js"
import { RunKeys } from "../run/run-keys.js"
import { defineStage } from "../run/stage.js"
import { type StepLoss, trainStep, type TrainStepConfig } from "../training/train-step.js"

/** The policy-gradient losses an rl recipe can train with. */
export type PolicyLoss = "importance_sampling" | "ppo"

/**
 * `importance_sampling` or `ppo` on the step's rollouts (the advantages and the sampler's
 * logprobs are in the datums). The loss is reported per trained token, beside the
 * rollouts' own metrics (reward, groups kept and dropped, ...).
 */
export const policyLoss = (loss: PolicyLoss): StepLoss<RolloutBatch> => ({
  description: `${loss} on the rollouts`,
  batch: RlKeys.rollouts,
  submit: (client, rollouts) => client.forwardBackward(rollouts.datums, loss),
  metrics: (output, rollouts) => ({
    ...rollouts.metrics,
    loss: (output.metrics["loss:sum"] ?? Number.NaN) / Math.max(rollouts.trainedTokens, 1),
    tokens: rollouts.trainedTokens,
    skipped: 0
  })
})

/**
 * The training half of an rl step: `trainStep` with the policy loss, except on a step whose
 * groups were all dropped (every rollout of every prompt scored the same). Such a step has no
 * gradient; an AdamW step on a zero gradient would still move the weights along its
 * momentum, so the step applies no update at all. It still counts (the learning-rate
 * schedule and the run length are in steps) and is logged with `skipped: 1` and its
 * rollout metrics, so a run whose groups are all constant is visible, not silent.
 */
export const rlTrainStep = (config: TrainStepConfig, loss: PolicyLoss) => {
  const train = trainStep(config, policyLoss(loss))
  return defineStage({
    ...train,
    description: `${train.description}; no update on a step whose groups were all dropped`,
    run: (context) => {
      const rollouts = context.get(RlKeys.rollouts)
      if (rollouts.datums.length > 0) return Effect.map(train.run(context), () => undefined)
      return Effect.sync(() => context.set(RunKeys.trainMetrics, { ...rollouts.metrics, tokens: 0, skipped: 1 }))
    }
  })
}
