import {
  evaluateSampled,
  type EvaluateSampledConfig,
  loadEnvPrompts,
  type LoadEnvPromptsConfig,
  nextBatch,
  type PolicyLoss,
  publishModel,
  type PublishModelConfig,
  RlKeys,
  rlRollouts,
  type RlRolloutsConfig,
  rlTrainStep
} from "../stages/index.js"
import { stage } from "./builders.js"
import { type TrainingSchedule, trainingWorkflow } from "./training-workflow.js"

/** Everything the rl workflow needs to know, gathered by the recipe compiler. */
export interface RlWorkflowConfig extends TrainingSchedule {
  readonly data: LoadEnvPromptsConfig
  readonly rollouts: RlRolloutsConfig
  readonly loss: PolicyLoss
  readonly evaluate: EvaluateSampledConfig
  /** Publish the model to a Hub repository after the final checkpoint. */
  readonly publish?: PublishModelConfig | undefined
}

/**
 * GRPO-style RL: load the prompt rows, then the shared training loop, each step taking
 * `batchSize` prompts, playing a group of episodes of each against the environment with the
 * current policy, and training on the group-centred advantages; evaluated by the reward of
 * greedy replies to held-out prompts. The data cursor walks the prompt rows, so they are
 * what a checkpoint fingerprints.
 */
export const rlWorkflow = (config: RlWorkflowConfig) =>
  trainingWorkflow(config, {
    name: "rl",
    prepare: [stage(loadEnvPrompts(config.data))],
    fingerprint: [RlKeys.trainPrompts, RlKeys.evalPrompts],
    step: [
      stage(nextBatch(config.batch, { data: RlKeys.trainPrompts, batch: RlKeys.promptBatch })),
      stage(rlRollouts(config.rollouts)),
      stage(rlTrainStep(config.optimizer, config.loss))
    ],
    evaluate: evaluateSampled(config.evaluate),
    after: config.publish === undefined ? [] : [stage(publishModel(config.publish))]
  })
