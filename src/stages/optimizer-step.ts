import { Effect } from "effect"
import { adamParams, type AdamParams, TrainingClient } from "../ports/index.js"
import { learningRateAt, type LrSchedule, validateLrSchedule } from "./lr-schedule.js"
import { RunKeys } from "./run-keys.js"
import { defineStage } from "./stage.js"

/** AdamW settings and the learning-rate schedule; the run length comes from the run state. */
export interface OptimizerStepConfig {
  readonly adam: Omit<AdamParams, "learning_rate">
  readonly schedule: Omit<LrSchedule, "totalSteps">
}

/**
 * Queues the optimizer step behind the in-flight forward/backward, then awaits both and
 * reports the step: mean loss per trained token, learning rate, tokens and seconds.
 */
export const optimizerStep = (config: OptimizerStepConfig) =>
  defineStage({
    name: "optim-step",
    description: `AdamW, ${config.schedule.kind} lr ${config.schedule.baseLr} (warmup ${config.schedule.warmupSteps})`,
    reads: [RunKeys.inFlight, RunKeys.totalSteps],
    writes: [RunKeys.trainMetrics],
    advancesStep: true,
    run: Effect.fnUntraced(function*(context) {
      const client = yield* TrainingClient
      const schedule = yield* validateLrSchedule({ ...config.schedule, totalSteps: context.get(RunKeys.totalSteps) })
      const lr = learningRateAt(schedule, context.step)
      const inFlight = context.get(RunKeys.inFlight)
      const step = yield* client.optimStep(adamParams({ ...config.adam, learning_rate: lr }))
      const output = yield* inFlight.pending.result
      const optim = yield* step.result
      const lossSum = output.metrics["loss:sum"] ?? Number.NaN
      const weightSum = output.metrics["weights:sum"] ?? inFlight.tokens
      context.set(RunKeys.trainMetrics, {
        loss: lossSum / Math.max(weightSum, 1),
        lr,
        tokens: inFlight.tokens,
        seconds: (performance.now() - inFlight.submittedAt) / 1000,
        ...optim.metrics
      })
    })
  })
