import {
  dpoStepLoss,
  evaluatePreference,
  loadPreferenceData,
  type LoadPreferenceDataConfig,
  nextBatch,
  PreferenceKeys,
  publishModel,
  type PublishModelConfig,
  referenceLogprobs,
  renderPreferenceData,
  type RenderPreferenceDataConfig,
  trainStep
} from "../stages/index.js"
import { stage } from "./builders.js"
import { type TrainingSchedule, trainingWorkflow } from "./training-workflow.js"

/** Everything the preference workflow needs to know, gathered by the recipe compiler. */
export interface PreferenceWorkflowConfig extends TrainingSchedule {
  readonly data: LoadPreferenceDataConfig
  readonly render: RenderPreferenceDataConfig
  /** DPO's beta: how strongly the policy is held to the reference. */
  readonly beta: number
  /** Held-out pairs per forward call. */
  readonly evalBatchSize: number
  /** Publish the model to a Hub repository after the final checkpoint. */
  readonly publish?: PublishModelConfig | undefined
}

/**
 * Direct preference optimization: load and render the (chosen, rejected) pairs, score them
 * once with the frozen starting weights (the reference), then the shared training loop, each
 * step a DPO step on a batch of pairs, with held-out preference accuracy as the evaluation;
 * after the final checkpoint, publish the model when asked.
 */
export const preferenceWorkflow = (config: PreferenceWorkflowConfig) =>
  trainingWorkflow(config, {
    name: "preference",
    prepare: [stage(loadPreferenceData(config.data)), stage(renderPreferenceData(config.render)), stage(referenceLogprobs)],
    fingerprint: [PreferenceKeys.trainRendered, PreferenceKeys.evalRendered],
    step: [
      stage(nextBatch(config.batch, { data: PreferenceKeys.trainPairs, batch: PreferenceKeys.pairBatch })),
      stage(trainStep(config.optimizer, dpoStepLoss(config.beta)))
    ],
    evaluate: evaluatePreference({ beta: config.beta, batchSize: config.evalBatchSize }),
    after: config.publish === undefined ? [] : [stage(publishModel(config.publish))]
  })
