import { Context, Duration, Effect, Layer, References } from "effect"
import { FetchHttpClient, HttpClient } from "effect/http"
import { OtlpExporter, OtlpSerialization, OtlpTracer } from "effect/observability"
import type { MetricsSink } from "../../ports/index.js"
import { reportingHttpClient, withoutUserinfo } from "./otlp-http-client.js"
import { makeOtlpMetricsExporter } from "./otlp-metrics-sink.js"

/**
 * A run's OpenTelemetry export, once `otlpTelemetryLayer` is provided: spans go out through
 * the tracer that layer installs; metrics through the sinks `metricsSink` makes.
 */
export class OtlpTelemetry extends Context.Service<OtlpTelemetry, {
  /** A metrics sink whose values go out as OTLP gauges, tagged with `attributes`. */
  readonly metricsSink: (attributes: Readonly<Record<string, unknown>>) => MetricsSink["Service"]
}>()("sous/adapters/OtlpTelemetry") {}

/** Where a run's telemetry goes and what it says it comes from. */
export interface OtlpTelemetryOptions {
  /** The collector's base URL: spans go to `<endpoint>/v1/traces`, metrics to `/v1/metrics`. */
  readonly endpoint: string
  /** The resource's `service.name`. */
  readonly serviceName: string
  /** More resource attributes (the run's name, say). */
  readonly resourceAttributes?: Readonly<Record<string, unknown>>
  /** Extra request headers (an auth token): sent, never logged. */
  readonly headers?: Readonly<Record<string, string>>
  /** How often buffered spans and metrics are sent during the run. Default 5 seconds. */
  readonly exportInterval?: Duration.Input
  /** How long the end of the run waits for the last export. Default 5 seconds. */
  readonly shutdownTimeout?: Duration.Input
}

/** How a tracker at `endpoint` is named in warnings: its URL without any user or password. */
export const otlpTrackerLabel = (endpoint: string): string => `otlp tracker at ${withoutUserinfo(endpoint)}`

/**
 * Exports the spans of everything run inside it (a run's `sous.runRecipe` root span and the
 * stage spans under it, with their attributes) and the metrics of the sinks its
 * `OtlpTelemetry` makes, to an OTLP/HTTP collector, protobuf-encoded (the encoding every OTLP
 * receiver takes; JSON is optional in the spec). Built on `effect/observability`: its
 * `OtlpTracer` and `OtlpExporter` batch, send every `exportInterval`, retry a failed request
 * three times a second apart, then drop what failed and pause that exporter for a minute.
 *
 * When the layer is released (the run is over) both exporters send what they still hold, at
 * once, waiting at most `shutdownTimeout`, so a run of a few seconds exports everything.
 *
 * A collector that is down or refuses the data never fails anything: the first failure is
 * logged once as a warning (`otlp tracker at <endpoint> is unreachable (<why>); the run goes
 * on without it`), and nothing after it. The exporters' own warnings (one a minute, with a
 * stack) are silenced: they run at the minimum log level `None`.
 */
export const otlpTelemetryLayer = (options: OtlpTelemetryOptions): Layer.Layer<OtlpTelemetry> =>
  Layer.unwrap(Effect.gen(function*() {
    const logLevel = yield* References.MinimumLogLevel
    const base = options.endpoint.replace(/\/+$/, "")
    const headers = { ...options.headers }
    const resource = { serviceName: options.serviceName, attributes: { ...options.resourceAttributes } }
    const exportInterval = options.exportInterval ?? Duration.seconds(5)
    const shutdownTimeout = options.shutdownTimeout ?? Duration.seconds(5)
    const signals = Layer.merge(
      OtlpTracer.layer({ url: `${base}/v1/traces`, resource, headers, exportInterval, shutdownTimeout }),
      Layer.effect(
        OtlpTelemetry,
        Effect.map(
          makeOtlpMetricsExporter({ url: `${base}/v1/metrics`, resource, headers, exportInterval, shutdownTimeout }),
          (metricsSink) => OtlpTelemetry.of({ metricsSink })
        )
      )
    )
    // Built after the exporters, so released before them: one flush sends traces and
    // metrics together, and each exporter's own shutdown flush then finds nothing left.
    const flushAtEnd = Layer.effectDiscard(Effect.gen(function*() {
      const flusher = yield* OtlpExporter.Flusher
      yield* Effect.addFinalizer(() =>
        flusher.flush.pipe(Effect.timeoutOption(shutdownTimeout), Effect.provideService(References.MinimumLogLevel, "None"))
      )
    }))
    return Layer.provideMerge(flushAtEnd, signals).pipe(
      Layer.provide(OtlpExporter.layerFlusher),
      Layer.provide(OtlpSerialization.layerProtobuf),
      Layer.provide(Layer.effect(HttpClient.HttpClient, reportingHttpClient(otlpTrackerLabel(options.endpoint), logLevel))),
      Layer.provide(FetchHttpClient.layer),
      Layer.provide(Layer.succeed(References.MinimumLogLevel, "None"))
    )
  }))
