import { Context, Effect, Layer, Result } from "effect"
import { MetricsError, MetricsSink } from "../../ports/index.js"

/**
 * One {@link MetricsSink} that forwards every call to all of `sinks` at once. Every sink gets
 * every call even when another fails (a broken remote sink must not cost the local JSONL
 * file its lines); the call then fails with that sink's error, or with one error naming all
 * failures when several failed.
 */
export const combineSinks = (sinks: ReadonlyArray<MetricsSink["Service"]>): MetricsSink["Service"] => {
  const forEachSink = (call: (sink: MetricsSink["Service"]) => Effect.Effect<void, MetricsError>) =>
    Effect.forEach(sinks, (sink) => Effect.result(call(sink)), { concurrency: "unbounded" }).pipe(
      Effect.flatMap((results) => {
        const failures = results.filter(Result.isFailure).map((result) => result.failure)
        if (failures.length === 0) return Effect.void
        if (failures.length === 1) return Effect.fail(failures[0]!)
        return Effect.fail(new MetricsError({ message: failures.map((failure) => failure.message).join("; ") }))
      })
    )

  return MetricsSink.of({
    record: (step, metrics) => forEachSink((sink) => sink.record(step, metrics)),
    event: (event) => forEachSink((sink) => sink.event(event)),
    summarize: (summary) => forEachSink((sink) => sink.summarize(summary)),
    flush: forEachSink((sink) => sink.flush)
  })
}

/**
 * A layer whose {@link MetricsSink} fans out to the sinks the given layers build, e.g.
 * `combinedMetricsSinkLayer([jsonlMetricsSinkLayer(runDir), logMetricsSinkLayer])`.
 * Each layer is built in this layer's scope, so their files close when it is released.
 */
export const combinedMetricsSinkLayer = <E, R>(
  layers: ReadonlyArray<Layer.Layer<MetricsSink, E, R>>
): Layer.Layer<MetricsSink, E, R> =>
  Layer.effect(
    MetricsSink,
    Effect.forEach(layers, (layer) => Effect.map(Layer.build(layer), Context.get(MetricsSink))).pipe(
      Effect.map(combineSinks)
    )
  )
