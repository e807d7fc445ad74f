import { Effect } from "effect"
import {
  adamParams,
  type AdamParams,
  type Datum,
  type ForwardBackwardOutput,
  type Metrics,
  type Pending,
  type TrainingCallError,
  TrainingClient
} from "../../ports/index.js"
import { trainedTokens } from "../rendering/datum-builder.js"
import { learningRateAt, type LrSchedule, validateLrSchedule } from "./lr-schedule.js"
import { RunKeys } from "../run/run-keys.js"
import { defineStage } from "../run/stage.js"
import type { StateKey } from "../run/state-key.js"

/** AdamW settings and the learning-rate schedule; the run length comes from the run state. */
export interface TrainStepConfig {
  readonly adam: Omit<AdamParams, "learning_rate">
  readonly schedule: Omit<LrSchedule, "totalSteps">
}

/**
 * What one step trains on and how its gradients are computed: the batch's state key, the
 * forward/backward submission, and the step metrics read from its output (`loss` at least).
 */
export interface StepLoss<B> {
  /** One line for `sous plan`: the loss and what it runs on. */
  readonly description: string
  readonly batch: StateKey<B>
  readonly submit: (
    client: TrainingClient["Service"],
    batch: B
  ) => Effect.Effect<Pending<ForwardBackwardOutput, TrainingCallError>, TrainingCallError>
  readonly metrics: (output: ForwardBackwardOutput, batch: B) => Metrics
}

/** Supervised learning: `cross_entropy` on the datums of `batch`, loss per trained token. */
export const crossEntropyLoss: StepLoss<ReadonlyArray<Datum>> = {
  description: "cross_entropy",
  batch: RunKeys.batch,
  submit: (client, batch) => client.forwardBackward(batch, "cross_entropy"),
  metrics: (output, batch) => {
    const tokens = batch.reduce((total, datum) => total + trainedTokens(datum), 0)
    return { loss: (output.metrics["loss:sum"] ?? Number.NaN) / Math.max(output.metrics["weights:sum"] ?? tokens, 1), tokens }
  }
}

/**
 * One optimizer step on the batch: submits forward/backward, queues the AdamW step behind it
 * before awaiting either (a remote service can then run both in one clock cycle), and
 * reports the loss's metrics, learning rate and seconds. Both calls live and die in this one
 * stage, so a retry resubmits the pair and can never apply an optimizer step to gradients of
 * a forward/backward it did not see.
 */
export const trainStep = <B = ReadonlyArray<Datum>>(
  config: TrainStepConfig,
  loss: StepLoss<B> = crossEntropyLoss as unknown as StepLoss<B>
) =>
  defineStage({
    name: "train-step",
    description: `${loss.description} forward/backward, AdamW queued behind it; ${config.schedule.kind} lr ${config.schedule.baseLr} (warmup ${config.schedule.warmupSteps})`,
    reads: [loss.batch, RunKeys.totalSteps],
    writes: [RunKeys.trainMetrics],
    advancesStep: true,
    run: Effect.fnUntraced(function*(context) {
      const client = yield* TrainingClient
      const schedule = yield* validateLrSchedule({ ...config.schedule, totalSteps: context.get(RunKeys.totalSteps) })
      const lr = learningRateAt(schedule, context.step)
      const batch = context.get(loss.batch)
      const submittedAt = performance.now()
      const gradients = yield* loss.submit(client, batch)
      const update = yield* client.optimStep(adamParams({ ...config.adam, learning_rate: lr }))
      const output = yield* gradients.result
      const optim = yield* update.result
      context.set(RunKeys.trainMetrics, {
        ...loss.metrics(output, batch),
        lr,
        seconds: (performance.now() - submittedAt) / 1000,
        ...optim.metrics
      })
    })
  })
