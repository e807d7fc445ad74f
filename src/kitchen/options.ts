/** What a kitchen run is told: where it writes, who listens, and an environment passed in code. */
import type { Effect } from "effect"
import type { MetricsSink } from "../ports/index.js"
import { type EnvFactory } from "../ports/index.js"

/** Where a run writes and who else listens to its metrics. */
export interface KitchenOptions {
  /** The run directory: metrics, events, summary and (by default) checkpoints. */
  readonly runDir: string
  /** What errors call the recipe: its file. Default `recipe`. */
  readonly source?: string
  /**
   * How `sous run` and a pipeline's stage start a run: once every check has passed, and not
   * before, the directory is prepared (`prepareRunDirectory`: `recipe.json` written, and with
   * `overwrite` a previous run's `files` removed). Without it a new run refuses a directory
   * that holds another run's metrics, events, summary or checkpoints.
   */
  readonly newRun?: NewRun
  /**
   * Where the recipe's trackers keep what every attempt of a run shares (the MLflow run id,
   * TensorBoard's default event directory). Default `runDir`; a durable run's segments, each
   * with a `runDir` of its own, point it at the run's directory, so they log to one MLflow
   * run and one TensorBoard directory.
   */
  readonly trackerHome?: string
  /** Extra metrics sinks (a progress display, a tracking service). */
  readonly sinks?: ReadonlyArray<MetricsSink["Service"]>
  /** A resumed run continues after this checkpoint: what the files hold after it is dropped. */
  readonly resumeAfter?: { readonly step: number; readonly checkpoint?: string }
  /**
   * The environment of an rl recipe written in code, whose `env` is `{ provided: name }`:
   * the factory itself, passed instead of named by a module path.
   */
  readonly env?: EnvFactory
  // The options below let the durable engine run a recipe as segments (src/durable/segment):
  // each attempt writes its metrics into a directory of its own, shares the run's checkpoint
  // store, checkpoints when asked, and waits after each commit to be told whether to go on.
  // `sous run` and `sous resume` set none.
  /**
   * Where checkpoints go when the recipe names no `checkpoint.uri`, instead of
   * `<runDir>/checkpoints`: an attempt's own `runDir` then shares the run's store.
   */
  readonly checkpointStore?: string
  /**
   * Tags the state blobs this run writes (`[A-Za-z0-9_-]+`), so two attempts of one segment
   * racing to commit the same checkpoint never write the same blob, and the loser can delete
   * its own. See `CheckpointAttempt`.
   */
  readonly attemptId?: string
  /**
   * Called after each checkpoint this run commits, but the final one (a run that commits
   * `final` goes on to the end: evaluation, publishing and summary are after it), with the
   * run held there until it answers: `continue` goes on training, `stop` ends the run at that
   * checkpoint, its result naming it in `stoppedAfter`.
   */
  readonly afterCheckpoint?: (checkpoint: CommittedCheckpoint) => Effect.Effect<"continue" | "stop">
  /** Asked after each step but the last: true saves a checkpoint there, off the recipe's schedule. */
  readonly checkpointAsked?: () => boolean
}

/** What a new run writes into its directory once its checks pass; see `KitchenOptions.newRun`. */
export interface NewRun {
  /** The resolved recipe, for `recipe.json` (`resolvedRecipeJson`). */
  readonly resolvedRecipe: string
  /** Replace a run the directory holds: its `files` are removed. */
  readonly overwrite: boolean
  /** The run's own files, which `overwrite` removes (default `runFiles`). */
  readonly files?: ReadonlyArray<string>
}

/** A checkpoint a run committed (not `final`): its name and step. */
export interface CommittedCheckpoint {
  readonly name: string
  readonly step: number
}
