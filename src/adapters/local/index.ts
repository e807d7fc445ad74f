/**
 * The local adapter: training and sampling in this process (and the plain TensorFlow.js
 * pieces under them).
 * `localBackendLayer` is what the composition root uses; the plain functions let a
 * benchmark write its own TensorFlow.js loop over the very same model and loss.
 */
export {
  type LocalBackendOptions,
  localBackendLayer,
  makeLocalBackend,
  maxAutoThreads,
  minAutoParallelWork,
  threadsProblem
} from "./local-backend.js"
export { type LocalTrainingClientOptions, makeLocalTrainingClient } from "./local-training-client.js"
export { type LocalSamplingClientOptions, makeLocalSamplingClient } from "./local-sampling-client.js"
export { type Decode, makeStopCheck, type StopCheck, type StopRule, stopRule } from "./stop-sequences.js"
export { initTfRuntime, type LocalDevice, type TfRuntime } from "./tf-runtime.js"
export { architectureProblem } from "./architecture-problem.js"
export {
  disposeModel,
  initModel,
  type ModelFeed,
  modelLogits,
  type ModelParams,
  outputSize,
  parameterCount
} from "./model.js"
export {
  estimateParameters,
  estimateSamplingMemory,
  estimateStepActivations,
  estimateTrainingMemory,
  type MemoryEstimate
} from "./memory-estimate.js"
export { lookupIn, type ParameterSet, type WeightLookup } from "./parameters.js"
export { type LayerCache, transformerLogits, transformerStep } from "./transformer.js"
export { type BatchLoss, batchLoss } from "./batch-loss.js"
export { targetLogprobs } from "./activation-kernels.js"
export { type DatumBatch, type LossRequest, lossRequest } from "./datum-batch.js"
export { lossSpecs, positionLosses, resolveLossConfig } from "./losses.js"
export { initLora, type LoraAdapters, type LoraSettings, loraWeights, mergeLora } from "./lora.js"
export { adamWStep, type AdamWState, type AdamWStepResult, globalNorm, initAdamW } from "./adamw.js"
export {
  clearGradients,
  createTrainer,
  disposeTrainer,
  forwardBackwardPass,
  forwardPass,
  type LocalTrainer,
  type LossResult,
  optimizerStep,
  trainerWeights
} from "./local-trainer.js"
export { baseProblem, restoreTrainer, saveTrainer, stateProblem } from "./trainer-state.js"
export { decodeState, type DecodedState, encodeState, StateHeader } from "./state-codec.js"
export { generate, type Generated, type GenerateOptions, promptsLogprobs } from "./generate.js"
export { samplerParams, samplerWeightsProblem } from "./sampler-weights.js"
export { type SampledToken, sampleToken, seededUniform, type TokenSampling } from "./token-sampler.js"
export * from "./hf/index.js"
