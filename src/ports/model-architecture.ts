import { Schema } from "effect"

const Positive = Schema.Int.check(Schema.isGreaterThan(0))

/**
 * The shape of a model that a backend builds from scratch (the local backend does; remote
 * services load named base models and ignore it). A decoder-only transformer language model.
 */
export const TransformerArchitecture = Schema.Struct({
  kind: Schema.Literal("transformer"),
  vocabSize: Positive,
  contextLength: Positive,
  width: Positive,
  layers: Positive,
  heads: Positive
})
export type TransformerArchitecture = typeof TransformerArchitecture.Type

/**
 * A Hugging Face causal language model read from the model directory `dir` (config.json and
 * safetensors weights): its weights are the starting point, and the backend that trains it
 * reads the rest of its shape from config.json. `vocabSize` is the token ids the data may
 * hold (the tokenizer's size, at most the model's `vocab_size`); `contextLength` is the
 * longest sequence trained or sampled (at most the positions the model has).
 */
export const HfModelArchitecture = Schema.Struct({
  kind: Schema.Literal("hf"),
  dir: Schema.String,
  vocabSize: Positive,
  contextLength: Positive
})
export type HfModelArchitecture = typeof HfModelArchitecture.Type

/**
 * A multilayer perceptron classifier over one `float_tensor` input of `inputShape` (flattened):
 * ReLU hidden layers of the given widths, then `classes` logits.
 */
export const MlpArchitecture = Schema.Struct({
  kind: Schema.Literal("mlp"),
  inputShape: Schema.Array(Positive),
  hidden: Schema.Array(Positive),
  classes: Positive
})
export type MlpArchitecture = typeof MlpArchitecture.Type

/**
 * A small convolutional classifier over one `float_tensor` input of shape
 * `[height, width, channels]`: per entry of `filters`, a same-padded `kernelSize` convolution,
 * ReLU and 2×2 max pooling; then ReLU dense layers of the `hidden` widths and `classes` logits.
 */
export const CnnArchitecture = Schema.Struct({
  kind: Schema.Literal("cnn"),
  inputShape: Schema.Tuple([Positive, Positive, Positive]),
  filters: Schema.Array(Positive),
  kernelSize: Positive,
  hidden: Schema.Array(Positive),
  classes: Positive
})
export type CnnArchitecture = typeof CnnArchitecture.Type

/** Every architecture a backend may be asked to build. */
export const ModelArchitecture = Schema.Union([TransformerArchitecture, HfModelArchitecture, MlpArchitecture, CnnArchitecture])
export type ModelArchitecture = typeof ModelArchitecture.Type

/** The architectures that read token ids and score the next token: sous's transformer, a Hugging Face model. */
export type LanguageModelArchitecture = TransformerArchitecture | HfModelArchitecture

/** Whether an architecture reads token ids (rather than classifying a float tensor). */
export const isLanguageModel = (arch: ModelArchitecture): arch is LanguageModelArchitecture =>
  arch.kind === "transformer" || arch.kind === "hf"

/** The architectures that classify one float tensor (their `target_tokens` hold class ids). */
export type ClassifierArchitecture = MlpArchitecture | CnnArchitecture
