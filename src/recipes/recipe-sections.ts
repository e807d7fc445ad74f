import { Schema } from "effect"
import { Decay, Fraction, Location, NonNegativeInt, PositiveInt, PositiveNumber, withDefault } from "./schema-fields.js"

// The sections recipes of several kinds share (model, tokenizer, renderer, data, training,
// optimizer, eval, checkpoint, publish, backend, log), and the fields of every chat recipe.

/**
 * Train low-rank adapters instead of every weight (protocol `LoraConfig`): adapters are
 * scaled by `alpha / rank`; the flags choose which projections get one. On a Hugging Face
 * model (`model.hf`), `targets` names the modules instead (`q_proj`, ...; GPT-2's `c_attn`,
 * `c_proj`, `c_fc`), as PEFT's `target_modules` does.
 */
export const LoraSection = Schema.Struct({
  rank: PositiveInt,
  alpha: withDefault(PositiveNumber, 32),
  trainAttn: withDefault(Schema.Boolean, true),
  trainMlp: withDefault(Schema.Boolean, true),
  trainUnembed: withDefault(Schema.Boolean, true),
  // Optional rather than defaulted, so recipes without it keep their hash.
  targets: Schema.optionalKey(Schema.Array(Schema.String).check(Schema.isMinLength(1)))
})

/**
 * A committed checkpoint by reference: the checkpoint store it is in (a directory, `file://`,
 * `s3://` or `hf://` location, like `checkpoint.uri`) and its name there.
 */
export const CheckpointRef = Schema.Struct({
  store: Location,
  checkpoint: withDefault(Schema.String, "final")
})
export type CheckpointRef = typeof CheckpointRef.Type

/**
 * The model to train. `layers` to `contextLength` shape a model the local backend builds
 * from scratch; `from` starts it from a checkpoint's weights instead (a fresh optimizer).
 * `hf` names a Hugging Face model directory (relative to the recipe) whose config.json gives
 * the shape and whose weights are the starting point; `contextLength` then bounds the
 * sequences trained, within the model's positions.
 */
export const ModelSection = Schema.Struct({
  hf: Schema.optionalKey(Schema.String),
  base: withDefault(Schema.String, "sous/tiny-transformer"),
  layers: withDefault(PositiveInt, 2),
  width: withDefault(PositiveInt, 64),
  heads: withDefault(PositiveInt, 4),
  contextLength: withDefault(PositiveInt, 64),
  lora: Schema.optionalKey(LoraSection),
  from: Schema.optionalKey(CheckpointRef)
})

/**
 * The tokenizer: sous's byte-level one, or a Hugging Face `tokenizer.json` at `path` (read
 * from local disk, relative to the recipe; a `tokenizer_config.json` beside it is read too).
 */
export const TokenizerSection = Schema.Struct({
  kind: withDefault(Schema.Literals(["byte", "huggingface"]), "byte"),
  path: Schema.optionalKey(Location)
})

/**
 * A model's own chat template, as loading a recipe reads it from a `tokenizer_config.json`:
 * `source` names the file, `template` is its `chat_template`, and `bosToken` and `eosToken`
 * are its `bos_token` and `eos_token`, which templates write.
 */
export const ChatTemplateSection = Schema.Struct({
  source: Schema.String,
  template: Schema.String,
  bosToken: Schema.optionalKey(Schema.String),
  eosToken: Schema.optionalKey(Schema.String)
})

/**
 * How conversations become tokens and which tokens are trained. `format: jinja` renders with
 * a model's own chat template: in a recipe file `chatTemplate` is the path of the model's
 * `tokenizer_config.json`, relative to the recipe, and loading the recipe puts the template
 * it holds in its place. So the resolved recipe, and its hash, carry the very template the
 * run trained with, and a resumed run does not depend on the file. That jinja needs a
 * template is checked with the model section (`decodeRecipe`): an `hf://` model gives its
 * own once it is downloaded.
 */
export const RendererSection = Schema.Struct({
  format: withDefault(Schema.Literals(["role-colon", "chatml", "llama3", "jinja"]), "role-colon"),
  trainOn: withDefault(Schema.Literals(["assistant", "last_assistant", "all"]), "assistant"),
  chatTemplate: Schema.optionalKey(ChatTemplateSection)
}).check(Schema.makeFilter((renderer) => {
  if (renderer.format !== "jinja" && renderer.chatTemplate !== undefined) {
    return { path: ["format"], issue: "must be jinja to render with renderer.chatTemplate" }
  }
  return undefined
}))

/** Dataset files (JSONL, one `{"messages": [...]}` per line); paths are relative to the recipe. */
export const DataSection = Schema.Struct({
  train: Location,
  eval: Schema.optionalKey(Location),
  evalFraction: withDefault(Fraction, 0.1),
  shuffle: withDefault(Schema.Boolean, true),
  // Optional rather than defaulted, so recipes without it keep their hash. Off unless asked:
  // a batch of one length is not a random draw, so it changes what a step averages over.
  groupByLength: Schema.optionalKey(Schema.Boolean)
})

/** Run length and batch size. `steps` wins over `epochs`; without it the run lasts `epochs` passes. */
export const TrainingSection = Schema.Struct({
  steps: Schema.optionalKey(PositiveInt),
  epochs: withDefault(PositiveNumber, 1),
  batchSize: withDefault(PositiveInt, 16)
})

/** AdamW and the learning-rate schedule. */
export const OptimizerSection = Schema.Struct({
  lr: withDefault(PositiveNumber, 1e-3),
  beta1: withDefault(Decay, 0.9),
  beta2: withDefault(Decay, 0.95),
  // 1e-8 rather than the protocol's 1e-12: with float32 moments a tiny eps turns rounding
  // noise in near-zero gradients into full-size steps.
  eps: withDefault(PositiveNumber, 1e-8),
  weightDecay: withDefault(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0, { expected: "a number >= 0" })), 0),
  // Clipping on by default (the protocol's default is off): a safer start for small models.
  gradClipNorm: withDefault(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0, { expected: "a number >= 0" })), 1),
  schedule: withDefault(Schema.Literals(["constant", "linear", "cosine"]), "cosine"),
  warmupSteps: withDefault(NonNegativeInt, 0),
  minLrRatio: withDefault(Fraction, 0.1)
})

/** Held-out evaluation: before training, every `every` steps (0: never in between) and at the end. */
export const EvalSection = Schema.Struct({
  every: withDefault(NonNegativeInt, 50),
  batchSize: withDefault(PositiveInt, 64)
})

/** Checkpoints every `every` steps (0: only the final one), on the store at `uri`. */
export const CheckpointSection = Schema.Struct({
  every: withDefault(NonNegativeInt, 0),
  uri: Schema.optionalKey(Location),
  keepLast: withDefault(NonNegativeInt, 0),
  keepEvery: withDefault(NonNegativeInt, 0)
})

/** Publish the trained model to the Hugging Face Hub after the final checkpoint. */
export const PublishSection = Schema.Struct({
  /** `hf://user/name`; the token comes from `HF_TOKEN`. */
  repo: Location
})

/**
 * Train in this process with TensorFlow.js on `device` (`auto` takes the fastest installed),
 * each batch cut across `threads` threads (absent: `auto`, one per core for batches worth
 * it; see the local backend's `threads`). A backend section without a kind is this one
 * (decodeRecipe fills the kind in), so each kind is a required literal and a mistake is
 * reported against the kind that was meant.
 */
export const LocalBackendSection = Schema.Struct({
  kind: Schema.Literal("local"),
  device: withDefault(Schema.Literals(["auto", "gpu", "cpu", "wasm"]), "auto"),
  // Optional rather than defaulted: recipes that leave it out keep the resolved form, and so
  // the hash, they had before it existed.
  threads: Schema.optionalKey(Schema.Union([Schema.Literal("auto"), PositiveInt]))
})

/**
 * Train on a remote service that speaks the Tinker protocol (Tinker itself, `sous serve`).
 * `baseUrl` defaults to `TINKER_BASE_URL`, then Tinker's own. The API key is read from the
 * environment variable `apiKeyEnv` names, never from the recipe, so recipes can be shared
 * and written to run directories without a secret in them.
 */
export const TinkerBackendSection = Schema.Struct({
  kind: Schema.Literal("tinker"),
  baseUrl: Schema.optionalKey(Schema.String),
  apiKeyEnv: withDefault(Schema.String, "TINKER_API_KEY")
})

/** Which training backend runs the recipe: `local` (the default) or `tinker`. */
export const BackendSection = Schema.Union([LocalBackendSection, TinkerBackendSection])
export type BackendSection = typeof BackendSection.Type

/** Console logging of step metrics. */
export const LogSection = Schema.Struct({
  every: withDefault(PositiveInt, 10)
})

/** An HTTP(S) base URL: a tracker's server. */
const ServerUrl = Schema.String.check(Schema.isPattern(/^https?:\/\/\S+$/u, { expected: "an http:// or https:// URL" }))

/**
 * An MLflow tracking server (its REST API at `uri`): the run is logged under `experiment`
 * (created when missing) as an MLflow run named after the recipe. A token, when the server
 * wants one, is read from the environment variable `tokenEnv` names, never from the recipe.
 */
export const MlflowTracker = Schema.Struct({
  kind: Schema.Literal("mlflow"),
  uri: ServerUrl,
  experiment: withDefault(Schema.String, "sous"),
  tokenEnv: withDefault(Schema.String, "MLFLOW_TRACKING_TOKEN")
})

/**
 * TensorBoard event files: scalars of every metric and eval measure, written to `dir`
 * (relative to the recipe; default `<run dir>/tensorboard`), which `tensorboard --logdir` reads.
 */
export const TensorboardTracker = Schema.Struct({
  kind: Schema.Literal("tensorboard"),
  dir: Schema.optionalKey(Location)
})

/**
 * OpenTelemetry over OTLP/HTTP: stage spans and step metrics sent to the collector at
 * `endpoint` (its base URL, e.g. `http://127.0.0.1:4318`) as service `serviceName`. Extra
 * headers (an auth token) come from the environment variable `headersEnv` names, in the
 * `OTEL_EXPORTER_OTLP_HEADERS` form `key=value,key=value`.
 */
export const OtlpTracker = Schema.Struct({
  kind: Schema.Literal("otlp"),
  endpoint: ServerUrl,
  serviceName: withDefault(Schema.String, "sous"),
  headersEnv: Schema.optionalKey(Schema.String)
})

/** An experiment tracker the run's metrics also go to. A tracker that is down never fails the run. */
export const TrackerSection = Schema.Union([MlflowTracker, TensorboardTracker, OtlpTracker])
export type TrackerSection = typeof TrackerSection.Type

/**
 * The trackers a run reports to, besides its own files. Optional rather than defaulted, so
 * recipes without it keep their hash.
 */
export const trackersField = Schema.optionalKey(Schema.Array(TrackerSection))

/** The fields every recipe that trains a chat model has: all but its kind, data and method. */
export const chatRecipeFields = {
  name: withDefault(Schema.String, "run"),
  seed: withDefault(NonNegativeInt, 0),
  model: withDefault(ModelSection, {}),
  tokenizer: withDefault(TokenizerSection, {}),
  renderer: withDefault(RendererSection, {}),
  training: withDefault(TrainingSection, {}),
  optimizer: withDefault(OptimizerSection, {}),
  eval: withDefault(EvalSection, {}),
  checkpoint: withDefault(CheckpointSection, {}),
  publish: Schema.optionalKey(PublishSection),
  backend: withDefault(BackendSection, { kind: "local" }),
  log: withDefault(LogSection, {}),
  trackers: trackersField
}
