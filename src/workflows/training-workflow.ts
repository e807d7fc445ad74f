import {
  checkpoint,
  fingerprintData,
  logMetrics,
  type NextBatchConfig,
  requireNewCheckpoints,
  type RetentionPolicy,
  RunKeys,
  type Stage,
  type StateKey,
  type TrainStepConfig,
  writeSummary
} from "../stages/index.js"
import { finally_, loop, sequence, stage, when, workflow } from "./builders.js"
import type { WhenView, WorkflowNode } from "./ir.js"

/** How a training workflow steps, evaluates and checkpoints, whatever its data. */
export interface TrainingSchedule {
  readonly batch: NextBatchConfig
  readonly optimizer: TrainStepConfig
  /** Evaluate every this many steps (0: only before and after training). */
  readonly evalEvery: number
  /** Checkpoint every this many steps (0: only the final checkpoint). */
  readonly checkpointEvery: number
  /**
   * Asked after each step but the last: true checkpoints there, off the schedule (a durable
   * run asked to pause checkpoints at once). Absent, only the schedule checkpoints.
   */
  readonly checkpointAsked?: (() => boolean) | undefined
  /** Which older checkpoints each new one leaves in place. */
  readonly retention: RetentionPolicy
  /** Recorded in checkpoints: how the data became datums. */
  readonly rendererId: string
  readonly seed: number
}

// The last step is left to the evaluation and checkpoint after the loop, which always run.
const beforeTheLast = ({ loops, loopTimes }: WhenView) => loops["train"]! < loopTimes["train"]! - 1

const everyBeforeTheLast = (interval: number) => ({
  label: `every ${interval} steps, before the last`,
  test: (view: WhenView) => view.step % interval === 0 && beforeTheLast(view)
})

/** When a checkpoint is saved in the loop: on the schedule, or also when asked; none when neither. */
const checkpointWhen = ({ checkpointEvery, checkpointAsked }: TrainingSchedule) => {
  if (checkpointAsked === undefined) return checkpointEvery > 0 ? everyBeforeTheLast(checkpointEvery) : undefined
  const scheduled = checkpointEvery > 0 ? everyBeforeTheLast(checkpointEvery) : undefined
  return {
    label: `${scheduled === undefined ? "" : `every ${checkpointEvery} steps or `}when asked, before the last`,
    test: (view: WhenView) => (scheduled?.test(view) ?? false) || (beforeTheLast(view) && checkpointAsked())
  }
}

/** What makes one training workflow different from another. */
export interface TrainingWorkflowParts<P extends WorkflowNode, S extends WorkflowNode, E, R, A extends WorkflowNode> {
  readonly name: string
  /** Stages that load the data and prepare what the steps train on, and `totalSteps`. */
  readonly prepare: ReadonlyArray<P>
  /** The prepared data a checkpoint's cursor walks, fingerprinted (default: `trainData`, `evalData`). */
  readonly fingerprint?: ReadonlyArray<StateKey<any>>
  /** One training step: take a batch, compute gradients, apply the optimizer (advancing the step). */
  readonly step: ReadonlyArray<S>
  /** The evaluation run before training, on schedule and at the end. */
  readonly evaluate: Stage<E, R>
  /** Stages after the final checkpoint (publishing). */
  readonly after: ReadonlyArray<A>
}

/**
 * The shape every training recipe shares: refuse a used checkpoint store, prepare the data,
 * fingerprint it, evaluate; then for each step run the kind's step stages (take a batch,
 * compute gradients, apply the optimizer), record metrics, and evaluate and checkpoint on schedule;
 * then evaluate, save the final checkpoint and run `after`. The summary is written last,
 * whether the run succeeded or not (it says how far a failed or interrupted run got).
 */
export const trainingWorkflow = <P extends WorkflowNode, S extends WorkflowNode, E, R, A extends WorkflowNode>(
  schedule: TrainingSchedule,
  parts: TrainingWorkflowParts<P, S, E, R, A>
) => {
  const evaluate = stage(parts.evaluate)
  const save = (final: boolean) =>
    stage(checkpoint({ final, rendererId: schedule.rendererId, dataSeed: schedule.seed, retention: schedule.retention }))
  const saveWhen = checkpointWhen(schedule)
  return workflow({
    name: parts.name,
    initial: [RunKeys.runInfo, RunKeys.dataCursor, RunKeys.summary, RunKeys.lastCheckpoint, RunKeys.expectedDataDigest],
    root: finally_(
      sequence(
        stage(requireNewCheckpoints),
        ...parts.prepare,
        stage(fingerprintData(parts.fingerprint)),
        evaluate,
        loop({
          name: "train",
          times: { key: RunKeys.totalSteps, label: "totalSteps" },
          body: sequence(
            ...parts.step,
            stage(logMetrics),
            ...(schedule.evalEvery > 0 ? [when({ ...everyBeforeTheLast(schedule.evalEvery), body: evaluate })] : []),
            ...(saveWhen === undefined ? [] : [when({ ...saveWhen, body: save(false) })])
          )
        }),
        evaluate,
        save(true),
        ...parts.after
      ),
      stage(writeSummary)
    )
  })
}
