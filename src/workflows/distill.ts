import {
  DistillKeys,
  evaluateReverseKl,
  loadChatData,
  type LoadChatDataConfig,
  nextBatch,
  publishModel,
  type PublishModelConfig,
  renderPrompts,
  type RenderPromptsConfig,
  reverseKlLoss,
  studentRollouts,
  teacherReplies,
  trainStep
} from "../stages/index.js"
import { stage } from "./builders.js"
import { type TrainingSchedule, trainingWorkflow } from "./training-workflow.js"

/** How the student learns from the teacher, and how replies are drawn. */
export interface DistillSettings {
  /** `on_policy`: the student samples, the teacher scores; `off_policy`: SFT on the teacher's replies. */
  readonly mode: "on_policy" | "off_policy"
  /** Replies sampled per prompt. */
  readonly groupSize: number
  readonly maxTokens: number
  readonly temperature: number
}

/** Everything the distill workflow needs to know, gathered by the recipe compiler. */
export interface DistillWorkflowConfig extends TrainingSchedule {
  readonly data: LoadChatDataConfig
  readonly prompts: RenderPromptsConfig
  readonly distill: DistillSettings
  /** Publish the model to a Hub repository after the final checkpoint. */
  readonly publish?: PublishModelConfig | undefined
}

/**
 * Distillation of the teacher (`TeacherWeights`) into the trained model, on the prompts of
 * chat rows. Each step takes a batch of prompts; on-policy, the student samples replies,
 * the teacher scores each token and `importance_sampling` trains with the negative reverse
 * KL as the per-token advantage; off-policy, the teacher samples the replies and
 * `cross_entropy` trains on them. Evaluation is the held-out reverse KL in both modes.
 */
export const distillWorkflow = (config: DistillWorkflowConfig) => {
  const sampling = {
    groupSize: config.distill.groupSize,
    maxTokens: config.distill.maxTokens,
    temperature: config.distill.temperature,
    seed: config.seed,
    contextLength: config.prompts.contextLength
  }
  const prompts = stage(nextBatch(config.batch, { data: DistillKeys.trainPrompts, batch: DistillKeys.promptBatch }))
  return trainingWorkflow(config, {
    name: "distill",
    prepare: [stage(loadChatData(config.data)), stage(renderPrompts(config.prompts))],
    fingerprint: [DistillKeys.trainPrompts, DistillKeys.evalPrompts],
    step: config.distill.mode === "on_policy"
      ? [prompts, stage(studentRollouts(sampling)), stage(trainStep(config.optimizer, reverseKlLoss))]
      : [prompts, stage(teacherReplies(sampling)), stage(trainStep(config.optimizer))],
    evaluate: evaluateReverseKl({ maxTokens: config.distill.maxTokens, temperature: config.distill.temperature, seed: config.seed }),
    after: config.publish === undefined ? [] : [stage(publishModel(config.publish))]
  })
}
