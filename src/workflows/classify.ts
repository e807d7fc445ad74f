import { evaluateAccuracy, loadClassifyData, type LoadClassifyDataConfig , nextBatch, trainStep } from "../stages/index.js"
import { stage } from "./builders.js"
import { type TrainingSchedule, trainingWorkflow } from "./training-workflow.js"

/** Everything the classify workflow needs to know, gathered by the recipe compiler. */
export interface ClassifyWorkflowConfig extends TrainingSchedule {
  readonly data: LoadClassifyDataConfig
  readonly evalBatchSize: number
}

/**
 * Classification: load and check the rows as datums, then the shared training loop with
 * held-out accuracy as the evaluation.
 */
export const classifyWorkflow = (config: ClassifyWorkflowConfig) =>
  trainingWorkflow(config, {
    name: "classify",
    prepare: [stage(loadClassifyData(config.data))],
    step: [stage(nextBatch(config.batch)), stage(trainStep(config.optimizer))],
    evaluate: evaluateAccuracy({ batchSize: config.evalBatchSize }),
    after: []
  })
