import { Effect } from "effect"
import { MetricsSink } from "../../ports/index.js"
import { requireFinite } from "./diverged.js"
import { RunKeys } from "./run-keys.js"
import { defineStage } from "./stage.js"

/**
 * Records the step's training metrics (one line per optimizer step) and keeps them as the
 * latest; a loss or gradient norm that is not finite then stops the run (see `requireFinite`),
 * before anything checkpoints the diverged state.
 */
export const logMetrics = defineStage({
  name: "log-metrics",
  description: "record step metrics",
  reads: [RunKeys.trainMetrics, RunKeys.summary],
  writes: [RunKeys.summary],
  run: Effect.fnUntraced(function*(context) {
    const sink = yield* MetricsSink
    const metrics = context.get(RunKeys.trainMetrics)
    yield* sink.record(context.step, metrics)
    yield* requireFinite(context.step, metrics, "training")
    context.set(RunKeys.summary, { ...context.get(RunKeys.summary), steps: context.step, final: metrics })
  })
})
