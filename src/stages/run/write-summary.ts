import { Effect } from "effect"
import { MetricsSink } from "../../ports/index.js"
import { RunKeys } from "./run-keys.js"
import { defineStage } from "./stage.js"

/** Hands the run's final, first and best numbers and its timing to the metrics sink. */
export const writeSummary = defineStage({
  name: "write-summary",
  description: "write summary (final and best metrics, timing)",
  reads: [RunKeys.runInfo, RunKeys.summary],
  writes: [],
  run: Effect.fnUntraced(function*(context) {
    const sink = yield* MetricsSink
    const { runId, startedAt } = context.get(RunKeys.runInfo)
    const summary = context.get(RunKeys.summary)
    const seconds = (Date.now() - startedAt) / 1000
    yield* sink.summarize({
      runId,
      ...summary,
      timing: { startedAt: new Date(startedAt).toISOString(), seconds, stepsPerSecond: summary.steps / seconds }
    })
    yield* sink.flush
  })
})
