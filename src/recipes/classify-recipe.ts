import { Schema } from "effect"
import { NonNegativeInt, PositiveInt, withDefault } from "./schema-fields.js"
import {
  BackendSection,
  CheckpointSection,
  DataSection,
  EvalSection,
  LogSection,
  OptimizerSection,
  TrainingSection,
  trackersField
} from "./recipe-sections.js"

/** A multilayer perceptron over the flattened input: ReLU dense layers of the `hidden` widths. */
export const MlpModelSection = Schema.Struct({
  kind: Schema.Literal("mlp"),
  hidden: withDefault(Schema.Array(PositiveInt), [128])
})

/**
 * A small CNN over an input of shape `[height, width, channels]`: per entry of `filters`, a
 * same-padded `kernelSize` convolution, ReLU and 2×2 max pooling; then the `hidden` dense layers.
 */
export const CnnModelSection = Schema.Struct({
  kind: Schema.Literal("cnn"),
  filters: Schema.Array(PositiveInt),
  kernelSize: withDefault(PositiveInt, 3),
  hidden: withDefault(Schema.Array(PositiveInt), [64])
})

/** The classifier to train from scratch; its input shape and class count come from `data`. */
export const ClassifierModelSection = Schema.Union([MlpModelSection, CnnModelSection])

/**
 * Classification data: JSONL rows `{"features": number[], "label": int}`, paths relative to the
 * recipe. Every row must have `product(inputShape)` finite features and a label in [0, classes).
 */
export const ClassifyDataSection = Schema.Struct({
  ...DataSection.fields,
  inputShape: Schema.Array(PositiveInt).check(Schema.isMinLength(1)),
  classes: PositiveInt.check(Schema.isGreaterThanOrEqualTo(2, { expected: "at least 2 classes" }))
})

/** Classification of tabular rows or images with a local MLP or CNN, trained with `cross_entropy`. */
export const ClassifyRecipe = Schema.Struct({
  kind: Schema.Literal("classify"),
  name: withDefault(Schema.String, "run"),
  seed: withDefault(NonNegativeInt, 0),
  model: ClassifierModelSection,
  data: ClassifyDataSection,
  training: withDefault(TrainingSection, {}),
  optimizer: withDefault(OptimizerSection, {}),
  eval: withDefault(EvalSection, {}),
  checkpoint: withDefault(CheckpointSection, {}),
  backend: withDefault(BackendSection, { kind: "local" }),
  log: withDefault(LogSection, {}),
  trackers: trackersField
})
export type ClassifyRecipe = typeof ClassifyRecipe.Type
