/** What a kitchen run is told: where it writes, who listens, and an environment passed in code. */
import type { MetricsSink } from "../ports/index.js"
import { type EnvFactory } from "../ports/index.js"

/** Where a run writes and who else listens to its metrics. */
export interface KitchenOptions {
  /** The run directory: metrics, events, summary and (by default) checkpoints. */
  readonly runDir: string
  /** Extra metrics sinks (a progress display, a tracking service). */
  readonly sinks?: ReadonlyArray<MetricsSink["Service"]>
  /** A resumed run continues after this checkpoint: what the files hold after it is dropped. */
  readonly resumeAfter?: { readonly step: number; readonly checkpoint?: string }
  /**
   * The environment of an rl recipe written in code, whose `env` is `{ provided: name }`:
   * the factory itself, passed instead of named by a module path.
   */
  readonly env?: EnvFactory
}

