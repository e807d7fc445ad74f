import { Effect, Layer } from "effect"
import { type Metrics, MetricsSink } from "../../ports/index.js"

// Five significant digits are enough to watch a loss move; the annotations keep full precision.
const formatValue = (value: number): string => Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(5)))

const formatMetrics = (step: number, metrics: Metrics): string =>
  [`step ${step}`, ...Object.entries(metrics).map(([name, value]) => `${name}=${formatValue(value)}`)].join(" ")

/**
 * A {@link MetricsSink} that writes to the Effect log, so a user at a terminal sees training
 * progress through whatever logger is installed. A record is an info line such as
 * `step 12 loss=2.3141 lr=0.0001`, annotated with `step` and every metric; an event is a
 * debug line `event <name>`, annotated with `event`, `step` and the event's data; the
 * summary is an info line `run summary` annotated with its fields.
 */
export const logMetricsSink: MetricsSink["Service"] = MetricsSink.of({
  record: (step, metrics) => Effect.logInfo(formatMetrics(step, metrics)).pipe(Effect.annotateLogs({ ...metrics, step })),
  event: (event) =>
    Effect.logDebug(`event ${event.name}`).pipe(
      Effect.annotateLogs({ ...event.data, event: event.name, step: event.step })
    ),
  summarize: (summary) => Effect.logInfo("run summary").pipe(Effect.annotateLogs(summary)),
  flush: Effect.void
})

/** A layer with {@link logMetricsSink}. */
export const logMetricsSinkLayer: Layer.Layer<MetricsSink> = Layer.succeed(MetricsSink, logMetricsSink)
