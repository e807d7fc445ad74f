import { Context, type Effect } from "effect"
import type { MetricsError } from "./errors.js"

/** Named numbers recorded at one optimizer step. */
export type Metrics = Readonly<Record<string, number>>

/** A run event (stage start and end, checkpoint committed, ...). */
export interface RunEvent {
  readonly name: string
  readonly step: number
  readonly data?: Readonly<Record<string, unknown>>
}

/** Where metrics and events go. Several sinks can be combined into one. */
export class MetricsSink extends Context.Service<MetricsSink, {
  readonly record: (step: number, metrics: Metrics) => Effect.Effect<void, MetricsError>
  readonly event: (event: RunEvent) => Effect.Effect<void, MetricsError>
  /**
   * The run's closing numbers (final and best metrics, timing), given once at the end; a
   * file sink writes them to `summary.json`, a tracking service to its run summary.
   */
  readonly summarize: (summary: Readonly<Record<string, unknown>>) => Effect.Effect<void, MetricsError>
  readonly flush: Effect.Effect<void, MetricsError>
}>()("sous/ports/MetricsSink") {}
