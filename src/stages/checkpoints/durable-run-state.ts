import { Effect, Schema } from "effect"
import { DataCursor, type Metrics, ResumeRefusedError } from "../../ports/index.js"
import type { RunSummary } from "../run/run-keys.js"

const FiniteMetrics = Schema.Record(Schema.String, Schema.Finite)
const Evaluation = Schema.Struct({ step: Schema.Int, metrics: FiniteMetrics })

/**
 * The run state a checkpoint keeps so a resumed run continues where it stopped: the run's
 * identity, the data cursor, the summary so far and the last checkpoint's name. The data
 * itself is not kept; the stages that load and render it run again on resume.
 */
// Keyed by the run-state key names (RunKeys.runInfo.name is "runInfo", and so on).
export const DurableRunState = Schema.Struct({
  runInfo: Schema.Struct({ runId: Schema.String, recipeHash: Schema.String, startedAt: Schema.Finite }),
  dataCursor: DataCursor,
  summary: Schema.Struct({
    steps: Schema.Int,
    final: FiniteMetrics,
    firstEval: Schema.optionalKey(Evaluation),
    lastEval: Schema.optionalKey(Evaluation),
    bestEval: Schema.optionalKey(Evaluation),
    checkpoints: Schema.Array(Schema.String)
  }),
  lastCheckpoint: Schema.NullOr(Schema.String),
  expectedDataDigest: Schema.String
})
export type DurableRunState = typeof DurableRunState.Type

/** Metrics without their non-finite values, which JSON cannot hold (the metrics file keeps them). */
export const finiteMetrics = (metrics: Metrics): Metrics =>
  Object.fromEntries(Object.entries(metrics).filter(([, value]) => Number.isFinite(value)))

/** A summary as a checkpoint can keep it. */
export const durableSummary = (summary: RunSummary): RunSummary => {
  const evaluation = (e: RunSummary["firstEval"]) => e && { step: e.step, metrics: finiteMetrics(e.metrics) }
  return {
    steps: summary.steps,
    final: finiteMetrics(summary.final),
    ...(summary.firstEval && { firstEval: evaluation(summary.firstEval)! }),
    ...(summary.lastEval && { lastEval: evaluation(summary.lastEval)! }),
    ...(summary.bestEval && { bestEval: evaluation(summary.bestEval)! }),
    checkpoints: summary.checkpoints
  }
}

/** Decodes the run state of a manifest; a mismatch names the checkpoint. */
export const decodeDurableRunState = (checkpoint: string, state: unknown) =>
  Schema.decodeUnknownEffect(DurableRunState)(state).pipe(
    Effect.mapError((error) =>
      new ResumeRefusedError({
        checkpoint,
        message: `checkpoint ${checkpoint} holds run state sous cannot resume from: ${error.message.split("\n")[0]}`,
        cause: error
      })
    )
  )
