import { Effect } from "effect"
import { MetricsSink } from "../../ports/index.js"
import { runSteps } from "../data/data-order.js"
import { RunKeys } from "./run-keys.js"
import type { StageContext } from "./stage.js"

/** How long a run is: `steps`, or else `epochs` (default 1) passes over the data in batches. */
export interface RunLength {
  readonly batchSize: number
  readonly steps?: number
  readonly epochs?: number
}

/**
 * Fixes the number of optimizer steps once the training examples are counted, stores it as
 * `totalSteps` (the stage must declare that key) and announces it in a `schedule` event,
 * which progress displays start from.
 */
export const fixRunLength = (context: StageContext, length: RunLength, trainExamples: number, evalExamples: number) =>
  Effect.gen(function*() {
    const totalSteps = runSteps(length, trainExamples)
    context.set(RunKeys.totalSteps, totalSteps)
    yield* (yield* MetricsSink).event({ name: "schedule", step: context.step, data: { totalSteps, trainExamples, evalExamples } })
  })
