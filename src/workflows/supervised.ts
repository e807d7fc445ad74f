import {
  evaluateNll,
  loadChatData,
  type LoadChatDataConfig,
  publishModel,
  type PublishModelConfig,
  renderChatData,
  type RenderChatDataConfig,
  nextBatch,
  trainStep
} from "../stages/index.js"
import { stage } from "./builders.js"
import { type TrainingSchedule, trainingWorkflow } from "./training-workflow.js"

/** Everything the supervised workflow needs to know, gathered by the recipe compiler. */
export interface SupervisedWorkflowConfig extends TrainingSchedule {
  readonly data: LoadChatDataConfig
  readonly render: RenderChatDataConfig
  readonly evalBatchSize: number
  /** Publish the model to a Hub repository after the final checkpoint. */
  readonly publish?: PublishModelConfig | undefined
}

/**
 * Chat SFT: load and render the data, then the shared training loop with held-out NLL as the
 * evaluation; after the final checkpoint, publish the model when asked.
 */
export const supervisedWorkflow = (config: SupervisedWorkflowConfig) =>
  trainingWorkflow(config, {
    name: "supervised",
    prepare: [stage(loadChatData(config.data)), stage(renderChatData(config.render))],
    step: [stage(nextBatch(config.batch)), stage(trainStep(config.optimizer))],
    evaluate: evaluateNll({ batchSize: config.evalBatchSize }),
    after: config.publish === undefined ? [] : [stage(publishModel(config.publish))]
  })
