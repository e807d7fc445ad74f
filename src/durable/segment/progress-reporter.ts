/** The segment process's side of the protocol: a metrics sink that reports on stdout. */
import { Effect } from "effect"
import { type Metrics, MetricsSink } from "../../ports/index.js"
import type { SegmentLine } from "./segment-protocol.js"

/** A sink that reports progress and commits as protocol lines, and what it has seen. */
export interface ProgressReporter {
  readonly sink: MetricsSink["Service"]
  /** The last step recorded, or undefined before the first. */
  readonly lastStep: () => number | undefined
}

/**
 * Reports the first step of each segment at once (its arrival tells the orchestrator that
 * training runs, and when it started), then at most one progress line every `everyMillis`
 * with the rate since that step, and a `checkpoint` line for each commit: the checkpoint
 * stage sends its `checkpoint` event only once the manifest is committed.
 */
export const makeProgressReporter = (write: (line: SegmentLine) => void, everyMillis = 1_000): ProgressReporter => {
  let first: { readonly step: number; readonly at: number } | undefined
  let last: number | undefined
  let reportedAt = 0
  const rate = (step: number, metrics: Metrics, now: number): number => {
    if (first === undefined || step === first.step) {
      const seconds = metrics["seconds"]
      return seconds !== undefined && seconds > 0 ? 1 / seconds : 0
    }
    return (step - first.step) / Math.max((now - first.at) / 1_000, 1e-3)
  }
  const sink = MetricsSink.of({
    record: (step, metrics) =>
      Effect.sync(() => {
        const now = Date.now()
        last = step
        if (first !== undefined && now - reportedAt < everyMillis) return
        const stepsPerSecond = rate(step, metrics, now)
        first ??= { step, at: now }
        reportedAt = now
        write({ type: "progress", step, stepsPerSecond })
      }),
    event: (event) =>
      Effect.sync(() => {
        const name = event.data?.["name"]
        if (event.name !== "checkpoint" || typeof name !== "string") return
        write({ type: "checkpoint", name, step: event.step })
        first = undefined // the next segment's first step is reported at once too

      }),
    summarize: () => Effect.void,
    flush: Effect.void
  })
  return { sink, lastStep: () => last }
}
