/**
 * sous: typed training recipes compiled into telemetry-wrapped workflows of stages that
 * talk to ports; adapters plug real systems into the ports.
 *
 * The root export is what a user writes code against: the ports (every contract and the data
 * vocabulary), recipes, the workflow DSL and the stages one composes workflows or flat loops
 * from. Importing it loads no adapter (no TensorFlow.js). Subpath exports hold the rest:
 * `sous/stages`, `sous/workflows` and `sous/recipes` every name of their layer (the helpers
 * the built-in workflows are made of); `sous/kitchen` the composition root (`runRecipe`,
 * `resumeRecipe`, `kitchenLayer`); `sous/pipeline` `runPipeline`; `sous/adapters` the built-in
 * adapters; `sous/local` the plain TensorFlow.js pieces; `sous/tinker` the Tinker client;
 * `sous/server` `sous serve`'s server.
 */

// Ports: the services adapters implement and the vocabulary they speak.
export * from "./ports/index.js"

// Recipes: schemas by kind, constructors for recipes written in code, loading with
// path-naming errors, compilation into a workflow.
export {
  type AnyRecipe,
  ClassifyRecipe,
  classifyRecipe,
  type ClassifyRecipeInput,
  type CompiledRecipe,
  compileRecipe,
  decodeRecipe,
  DistillRecipe,
  distillRecipe,
  type DistillRecipeInput,
  loadAnyRecipe,
  loadRecipe,
  PipelineRecipe,
  pipelineRecipe,
  type PipelineRecipeInput,
  PreferenceRecipe,
  preferenceRecipe,
  type PreferenceRecipeInput,
  Recipe,
  RecipeError,
  recipeHash,
  type RecipeInputOptions,
  type RecipeKind,
  recipeKinds,
  type RecipeProblem,
  RlRecipe,
  rlRecipe,
  type RlRecipeInput,
  SupervisedRecipe,
  supervisedRecipe,
  type SupervisedRecipeInput
} from "./recipes/index.js"

// The workflow DSL: builders of a plain-data tree, its validator, runner and plan printer,
// and the built-in workflow of each kind.
export {
  classifyWorkflow,
  distillWorkflow,
  finally_,
  InvalidLoopTimesError,
  loop,
  MissingStateValueError,
  preferenceWorkflow,
  printPlan,
  rlWorkflow,
  runWorkflow,
  type RunWorkflowOptions,
  sequence,
  stage,
  type StageOptions,
  type StageRetryOptions,
  StageTimeoutError,
  supervisedWorkflow,
  trainingWorkflow,
  UndeclaredStateKeyError,
  validateWorkflow,
  when,
  workflow,
  type Workflow,
  type WorkflowCursor,
  WorkflowInvalidError,
  type WorkflowNode,
  type WorkflowResult,
  type WorkflowStatus
} from "./workflows/index.js"

// Stages: defining one, the run's state keys, and the building blocks of training loops.
export {
  type ChatRenderer,
  chatRendererFor,
  checkpoint,
  completionRendererFor,
  crossEntropyLoss,
  currentPolicySampler,
  type CustomLoss,
  type CustomLossResult,
  defineStage,
  dpoLoss,
  type DpoLossConfig,
  epochOrder,
  evaluateAccuracy,
  evaluateNll,
  forwardBackwardCustom,
  groupAdvantages,
  isConstantGroup,
  learningRateAt,
  logMetrics,
  type LrSchedule,
  makeJinjaRenderer,
  newestCheckpoint,
  nextBatch,
  renderChat,
  type RenderedChat,
  type RendererFormat,
  RunKeys,
  type RunSummary,
  restoreCheckpoint,
  rolloutDatum,
  sampleCompletions,
  sampleSeed,
  type ScoredCompletion,
  type Stage,
  type StageContext,
  type StateKey,
  stateKey,
  type StepLoss,
  supervisedDatum,
  takeBatch,
  trainEvalSplit,
  trainStep,
  type TrainOn,
  writeSummary
} from "./stages/index.js"
