import { Clock, Duration, Effect } from "effect"
import { OtlpExporter, OtlpResource, OtlpSerialization } from "effect/observability"
import type { OtlpMetrics } from "effect/observability"
import { type Metrics, MetricsSink } from "../../ports/index.js"

/** One measured value: a gauge data point once exported. */
interface Point {
  readonly name: string
  readonly value: number
  readonly timeUnixNano: string
  readonly attributes: ReadonlyArray<OtlpResource.KeyValue>
}

/**
 * The OTLP name of a sous metric: `sous.` and the name with every character OpenTelemetry
 * refuses in an instrument name (`[A-Za-z0-9_.\-/]` only) written as `_`, so `loss` is
 * `sous.loss` and `grad_norm:mean` is `sous.grad_norm_mean`.
 */
export const otlpMetricName = (name: string): string => `sous.${name.replace(/[^A-Za-z0-9_.\-/]/g, "_")}`.slice(0, 255)

/** The OTLP name of the step counter, sent with each step's metrics. */
export const otlpStepMetric = "sous.step"

// A run's metrics, grouped into one gauge per name in the order they were first seen.
const metricsData = (resource: OtlpResource.Resource, points: ReadonlyArray<Point>): OtlpMetrics.MetricsData => {
  const byName = new Map<string, Array<Point>>()
  for (const point of points) {
    const named = byName.get(point.name)
    if (named === undefined) byName.set(point.name, [point])
    else named.push(point)
  }
  const metrics = [...byName].map(([name, named]) => ({
    name,
    gauge: {
      dataPoints: named.map((point) => ({
        attributes: [...point.attributes],
        timeUnixNano: point.timeUnixNano,
        asDouble: point.value
      }))
    }
  }))
  return { resourceMetrics: [{ resource, scopeMetrics: [{ scope: { name: "sous" }, metrics }] }] }
}

/** Where and how the metrics exporter sends; see `otlpTelemetryLayer`. */
export interface OtlpMetricsExporterOptions {
  readonly url: string
  readonly resource: Parameters<typeof OtlpResource.fromConfig>[0]
  readonly headers: Record<string, string>
  readonly exportInterval: Duration.Input
  readonly shutdownTimeout: Duration.Input
}

/**
 * Step metrics and evaluation measures as OTLP gauges, each value its own data point stamped
 * with the time it was recorded: `record(step, metrics)` sends every metric (see
 * `otlpMetricName`) and the step as `sous.step`, an `eval` event its numbers and its step;
 * other events and the summary are left to the trace and the run's files.
 *
 * Why not Effect's `Metric` API and `OtlpMetrics`: those export a snapshot of a process-wide
 * registry every interval, so a gauge sends only its latest value (a run of 50 steps in 10
 * seconds would send one loss), and runs sharing a process (the job service) would share
 * gauges. This buffers each point instead and hands batches to Effect's `OtlpExporter`, the
 * exporter its `OtlpTracer` uses: same batching, retries, flush and shutdown, same encoding.
 *
 * Returns a maker of sinks: each sink tags its points with `attributes` (the run id).
 */
export const makeOtlpMetricsExporter = Effect.fnUntraced(function*(options: OtlpMetricsExporterOptions) {
  const resource = yield* OtlpResource.fromConfig(options.resource)
  const serialization = yield* OtlpSerialization.OtlpSerialization
  const exporter = yield* OtlpExporter.make({
    label: "OtlpMetrics",
    url: options.url,
    headers: options.headers,
    exportInterval: options.exportInterval,
    maxBatchSize: 1000,
    shutdownTimeout: options.shutdownTimeout,
    body: (points: Array<Point>) => [serialization.metrics(metricsData(resource, points)), Effect.void]
  })

  return (attributes: Readonly<Record<string, unknown>>): MetricsSink["Service"] => {
    const tags = OtlpResource.entriesToAttributes(Object.entries(attributes))
    const send = (named: ReadonlyArray<readonly [string, number]>) =>
      Effect.map(Clock.currentTimeNanos, (now) => {
        const timeUnixNano = String(now)
        for (const [name, value] of named) exporter.push({ name, value, timeUnixNano, attributes: tags } satisfies Point)
      })
    const numbers = (metrics: Readonly<Record<string, unknown>>) =>
      Object.entries(metrics).flatMap(([name, value]) => typeof value === "number" ? [[otlpMetricName(name), value] as const] : [])
    return MetricsSink.of({
      record: (step: number, metrics: Metrics) => send([[otlpStepMetric, step], ...numbers(metrics)]),
      event: (event) =>
        event.name === "eval" && event.data !== undefined ? send([[otlpStepMetric, event.step], ...numbers(event.data)]) : Effect.void,
      summarize: () => Effect.void,
      flush: Effect.void
    })
  }
})
