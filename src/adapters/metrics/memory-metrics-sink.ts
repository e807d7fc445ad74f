import { Context, Effect, Layer, Ref } from "effect"
import { type Metrics, MetricsSink, type RunEvent } from "../../ports/index.js"

/** One `record` call as a memory sink saw it. */
export interface RecordedMetrics {
  readonly step: number
  readonly metrics: Metrics
}

/** Reads back what a memory {@link MetricsSink} was given, in call order. */
export class MemoryMetrics extends Context.Service<MemoryMetrics, {
  readonly records: Effect.Effect<ReadonlyArray<RecordedMetrics>>
  readonly events: Effect.Effect<ReadonlyArray<RunEvent>>
  readonly summaries: Effect.Effect<ReadonlyArray<Readonly<Record<string, unknown>>>>
  /** How many times `flush` was called. */
  readonly flushes: Effect.Effect<number>
}>()("sous/adapters/metrics/MemoryMetrics") {}

/** A memory sink and the handle that reads it. */
export interface MemoryMetricsSink {
  readonly sink: MetricsSink["Service"]
  readonly recorded: MemoryMetrics["Service"]
}

/**
 * A {@link MetricsSink} that keeps everything in memory, for tests. It stores copies, so a
 * caller reusing its metrics object between steps does not rewrite history.
 */
export const makeMemoryMetricsSink: Effect.Effect<MemoryMetricsSink> = Effect.gen(function*() {
  const records = yield* Ref.make<ReadonlyArray<RecordedMetrics>>([])
  const events = yield* Ref.make<ReadonlyArray<RunEvent>>([])
  const summaries = yield* Ref.make<ReadonlyArray<Readonly<Record<string, unknown>>>>([])
  const flushes = yield* Ref.make(0)
  return {
    sink: MetricsSink.of({
      record: (step, metrics) => Ref.update(records, (all) => [...all, { step, metrics: { ...metrics } }]),
      event: (event) => Ref.update(events, (all) => [...all, { ...event }]),
      summarize: (summary) => Ref.update(summaries, (all) => [...all, { ...summary }]),
      flush: Ref.update(flushes, (count) => count + 1)
    }),
    recorded: MemoryMetrics.of({
      records: Ref.get(records),
      events: Ref.get(events),
      summaries: Ref.get(summaries),
      flushes: Ref.get(flushes)
    })
  }
})

/** A layer with a fresh memory {@link MetricsSink} and the {@link MemoryMetrics} that reads it. */
export const memoryMetricsSinkLayer: Layer.Layer<MetricsSink | MemoryMetrics> = Layer.effectContext(
  Effect.map(makeMemoryMetricsSink, ({ recorded, sink }) =>
    Context.make(MetricsSink, sink).pipe(Context.add(MemoryMetrics, recorded)))
)
