import {
  checkpoint,
  evaluateNll,
  fingerprintData,
  loadChatData,
  type LoadChatDataConfig,
  logMetrics,
  nextBatch,
  type NextBatchConfig,
  renderChatData,
  type RenderChatDataConfig,
  requireNewCheckpoints,
  publishModel,
  type PublishModelConfig,
  type RetentionPolicy,
  RunKeys,
  trainStep,
  type TrainStepConfig,
  writeSummary
} from "../stages/index.js"
import { finally_, loop, sequence, stage, when, workflow } from "./builders.js"
import type { WhenView } from "./ir.js"

/** Everything the supervised workflow needs to know, gathered by the recipe compiler. */
export interface SupervisedWorkflowConfig {
  readonly data: LoadChatDataConfig
  readonly render: RenderChatDataConfig
  readonly batch: NextBatchConfig
  readonly optimizer: TrainStepConfig
  readonly evalBatchSize: number
  /** Evaluate every this many steps (0: only before and after training). */
  readonly evalEvery: number
  /** Checkpoint every this many steps (0: only the final checkpoint). */
  readonly checkpointEvery: number
  /** Which older checkpoints each new one leaves in place. */
  readonly retention: RetentionPolicy
  /** Publish the model to a Hub repository after the final checkpoint. */
  readonly publish?: PublishModelConfig | undefined
  readonly rendererId: string
  readonly seed: number
}

// The last step is left to the evaluation and checkpoint after the loop, which always run.
const everyBeforeTheLast = (interval: number) => ({
  label: `every ${interval} steps, before the last`,
  test: ({ step, loops, loopTimes }: WhenView) => step % interval === 0 && loops["train"]! < loopTimes["train"]! - 1
})

/**
 * Chat SFT: load and render the data, evaluate, then for each step take a batch, submit
 * forward/backward with the optimizer step queued behind it, record metrics, and evaluate and
 * checkpoint on schedule; then evaluate, save the final checkpoint and (when asked) publish the
 * model. The summary is written last, whether the run succeeded or not.
 */
export const supervisedWorkflow = (config: SupervisedWorkflowConfig) => {
  const evaluate = stage(evaluateNll({ batchSize: config.evalBatchSize }))
  const save = (final: boolean) => stage(checkpoint({ final, rendererId: config.rendererId, dataSeed: config.seed, retention: config.retention }))
  return workflow({
    name: "supervised",
    initial: [RunKeys.runInfo, RunKeys.dataCursor, RunKeys.summary, RunKeys.lastCheckpoint, RunKeys.expectedDataDigest],
    // The summary is written even when the run fails or is interrupted: it says how far it got.
    root: finally_(
      sequence(
        stage(requireNewCheckpoints),
        stage(loadChatData(config.data)),
        stage(renderChatData(config.render)),
        stage(fingerprintData),
        evaluate,
        loop({
          name: "train",
          times: { key: RunKeys.totalSteps, label: "totalSteps" },
          body: sequence(
            stage(nextBatch(config.batch)),
            stage(trainStep(config.optimizer)),
            stage(logMetrics),
            ...(config.evalEvery > 0 ? [when({ ...everyBeforeTheLast(config.evalEvery), body: evaluate })] : []),
            ...(config.checkpointEvery > 0 ? [when({ ...everyBeforeTheLast(config.checkpointEvery), body: save(false) })] : [])
          )
        }),
        evaluate,
        save(true),
        ...(config.publish === undefined ? [] : [stage(publishModel(config.publish))])
      ),
      stage(writeSummary)
    )
  })
}
