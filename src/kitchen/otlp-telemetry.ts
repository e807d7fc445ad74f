/** OpenTelemetry export of a run, set up from the recipe's `otlp` tracker. */
import { Effect, Option, Result } from "effect"
import { combineSinks } from "../adapters/metrics/combine-sinks.js"
import { parseOtlpHeaders } from "../adapters/telemetry/otlp-headers.js"
import { OtlpTelemetry, otlpTelemetryLayer, otlpTrackerLabel } from "../adapters/telemetry/otlp-telemetry.js"
import { MetricsSink } from "../ports/index.js"
import type { Recipe } from "../recipes/recipe.js"
import type { OtlpTracker } from "../recipes/recipe-sections.js"

/**
 * The tracker's request headers, or why it cannot start. A `headersEnv` variable that is not
 * set is no headers, as an MLflow tracker's unset `tokenEnv` is no token: a collector that
 * wants them says so (`answered HTTP 401`). The problems never quote a header value or the
 * endpoint's password.
 */
const trackerHeaders = (tracker: typeof OtlpTracker.Type, path: string): Result.Result<Record<string, string>, string> => {
  if (/^https?:\/\/[^@/]*@/.test(tracker.endpoint)) {
    return Result.fail(`${path}.endpoint holds a user or password, which fetch refuses to send ` +
      "(pass credentials as a header through headersEnv, e.g. Authorization=Basic%20...)")
  }
  const text = tracker.headersEnv === undefined ? undefined : process.env[tracker.headersEnv]
  if (text === undefined) return Result.succeed({})
  return Result.mapError(parseOtlpHeaders(text), (problem) => `${path}.headersEnv: ${tracker.headersEnv} holds no key=value,key2=value2 list: ${problem}`)
}

/**
 * Runs `run` (a run's root span and all it does) with its spans, and the metrics of the
 * sinks `withOtlpMetrics` sets up, exported to the recipe's `otlp` tracker; a recipe without
 * one runs as it is. The resource is the tracker's `serviceName` with the recipe's name
 * (`sous.run.name`) and kind (`sous.recipe.kind`). Everything is sent before it resolves
 * (see `otlpTelemetryLayer`).
 *
 * Like every tracker, it never fails the run: a collector that is down, a `headersEnv` that
 * cannot be read or an endpoint holding a password is one warning, and the run goes on
 * without the tracker. A run has one tracer, so a second otlp tracker is left out the same
 * way (one OpenTelemetry Collector can forward to several backends).
 */
export const withRecipeTelemetry = <A, E, R>(recipe: Recipe, run: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    const trackers = (recipe.trackers ?? []).flatMap((tracker, index) =>
      tracker.kind === "otlp" ? [{ tracker, path: `trackers[${index}]` }] : []
    )
    const [first, ...more] = trackers
    if (first === undefined) return yield* run
    for (const { path, tracker } of more) {
      yield* Effect.logWarning(
        `${otlpTrackerLabel(tracker.endpoint)} (${path}) is left out: a run exports to one otlp tracker, ` +
          `${first.path}; the run goes on without it`
      )
    }
    const { path, tracker } = first
    const headers = trackerHeaders(tracker, path)
    if (Result.isFailure(headers)) {
      yield* Effect.logWarning(`${otlpTrackerLabel(tracker.endpoint)} cannot start: ${headers.failure}; the run goes on without it`)
      return yield* run
    }
    return yield* Effect.provide(run, otlpTelemetryLayer({
      endpoint: tracker.endpoint,
      serviceName: tracker.serviceName,
      headers: headers.success,
      resourceAttributes: { "sous.run.name": recipe.name, "sous.recipe.kind": recipe.kind }
    }))
  })

/**
 * `run` with its `MetricsSink` also sending step metrics and evaluation measures to the
 * otlp tracker `withRecipeTelemetry` set up, each value tagged with `sous.run.id`; without
 * one, `run` as it is. The tracker's sink never fails: its failures are the exporter's.
 */
export const withOtlpMetrics = (runId: string) => <A, E, R>(run: Effect.Effect<A, E, R>): Effect.Effect<A, E, R | MetricsSink> =>
  Effect.gen(function*() {
    const telemetry = yield* Effect.serviceOption(OtlpTelemetry)
    if (Option.isNone(telemetry)) return yield* run
    const sink = yield* MetricsSink
    return yield* Effect.provideService(run, MetricsSink, combineSinks([sink, telemetry.value.metricsSink({ "sous.run.id": runId })]))
  })
