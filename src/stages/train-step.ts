import { Effect } from "effect"
import { adamParams, type AdamParams, TrainingClient } from "../ports/index.js"
import { trainedTokens } from "./datum-builder.js"
import { learningRateAt, type LrSchedule, validateLrSchedule } from "./lr-schedule.js"
import { RunKeys } from "./run-keys.js"
import { defineStage } from "./stage.js"

/** AdamW settings and the learning-rate schedule; the run length comes from the run state. */
export interface TrainStepConfig {
  readonly adam: Omit<AdamParams, "learning_rate">
  readonly schedule: Omit<LrSchedule, "totalSteps">
}

/**
 * One optimizer step on the batch: submits forward/backward (`cross_entropy`), queues the
 * AdamW step behind it before awaiting either (a remote service can then run both in one
 * clock cycle), and reports the mean loss per trained token, learning rate, tokens and
 * seconds. Both calls live and die in this one stage, so a retry resubmits the pair and can
 * never apply an optimizer step to gradients of a forward/backward it did not see.
 */
export const trainStep = (config: TrainStepConfig) =>
  defineStage({
    name: "train-step",
    description: `forward/backward, AdamW queued behind it; ${config.schedule.kind} lr ${config.schedule.baseLr} (warmup ${config.schedule.warmupSteps})`,
    reads: [RunKeys.batch, RunKeys.totalSteps],
    writes: [RunKeys.trainMetrics],
    advancesStep: true,
    run: Effect.fnUntraced(function*(context) {
      const client = yield* TrainingClient
      const schedule = yield* validateLrSchedule({ ...config.schedule, totalSteps: context.get(RunKeys.totalSteps) })
      const lr = learningRateAt(schedule, context.step)
      const batch = context.get(RunKeys.batch)
      const submittedAt = performance.now()
      const gradients = yield* client.forwardBackward(batch, "cross_entropy")
      const update = yield* client.optimStep(adamParams({ ...config.adam, learning_rate: lr }))
      const output = yield* gradients.result
      const optim = yield* update.result
      const tokens = batch.reduce((total, datum) => total + trainedTokens(datum), 0)
      const lossSum = output.metrics["loss:sum"] ?? Number.NaN
      context.set(RunKeys.trainMetrics, {
        loss: lossSum / Math.max(output.metrics["weights:sum"] ?? tokens, 1),
        lr,
        tokens,
        seconds: (performance.now() - submittedAt) / 1000,
        ...optim.metrics
      })
    })
  })
