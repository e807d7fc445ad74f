import { Cause, Effect, type Exit, type Scope } from "effect"
import { type MetricsError, MetricsSink } from "../../ports/index.js"
import { messageOf } from "../../ports/thrown-message.js"

/** An experiment tracker's sink and what it does when the run ends. */
export interface TrackerSink {
  readonly sink: MetricsSink["Service"]
  /**
   * Called once when the run's scope closes, with how the run ended: sends what is still
   * buffered and closes the tracker's run (an MLflow run's final status, say).
   */
  readonly close?: (exit: Exit.Exit<unknown, unknown>) => Effect.Effect<void, MetricsError>
}

/** A sink that takes everything and does nothing: a tracker that could not start. */
const silentSink = MetricsSink.of({
  record: () => Effect.void,
  event: () => Effect.void,
  summarize: () => Effect.void,
  flush: Effect.void
})

// A MetricsError's message is written to follow the tracker's label ("is unreachable (...)",
// "cannot open ..."); anything else a tracker throws is a bug in it, quoted as it is.
const reasonOf = (cause: Cause.Cause<MetricsError>): string => {
  const error = Cause.findErrorOption(cause)
  return error._tag === "Some" ? error.value.message : `failed: ${messageOf(Cause.squash(cause))}`
}

/**
 * Opens a tracker so that it can never fail the run: its failure (to start, to take a call,
 * or to close) is logged once, as a warning naming the tracker (`label`, e.g. `mlflow
 * tracker at http://127.0.0.1:5000`) and the reason, and from then on the tracker is left
 * out: nothing more is sent to it and nothing more is logged. Stopping at the first failure
 * is deliberate: the tracker's own client retries what is worth retrying, so a failure that
 * reaches here is one that lasts, and a run of hours must not pay a timeout per step for a
 * tracker that is gone. Interruption is not a failure: it goes through.
 * The returned sink never fails; `close` runs when the scope closes, unless the tracker
 * failed before.
 */
export const tolerantSink = <R>(
  label: string,
  open: Effect.Effect<TrackerSink, MetricsError, R>
): Effect.Effect<MetricsSink["Service"], never, R | Scope.Scope> =>
  Effect.gen(function*() {
    let failed = false
    const giveUp = (cause: Cause.Cause<MetricsError>) =>
      Cause.hasInterruptsOnly(cause)
        ? Effect.failCause(cause as Cause.Cause<never>)
        : Effect.suspend(() => {
          failed = true
          return Effect.logWarning(`${label} ${reasonOf(cause)}; the run goes on without it`)
        })
    const guard = (call: () => Effect.Effect<void, MetricsError>): Effect.Effect<void> =>
      Effect.suspend(() => failed ? Effect.void : Effect.catchCause(call(), giveUp))

    const opened = yield* open.pipe(Effect.map((tracker): TrackerSink | undefined => tracker), Effect.catchCause((cause) => Effect.as(giveUp(cause), undefined)))
    if (opened === undefined) return silentSink
    const { close, sink } = opened
    if (close !== undefined) yield* Effect.addFinalizer((exit) => guard(() => close(exit)))
    return MetricsSink.of({
      record: (step, metrics) => guard(() => sink.record(step, metrics)),
      event: (event) => guard(() => sink.event(event)),
      summarize: (summary) => guard(() => sink.summarize(summary)),
      flush: guard(() => sink.flush)
    })
  })
