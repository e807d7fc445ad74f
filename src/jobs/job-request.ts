/**
 * The body of `POST /v1/fine_tuning/jobs`, in OpenAI's shape: `model`, `training_file`,
 * `validation_file`, `method` (or the older top-level `hyperparameters`), `suffix`, `seed`,
 * `metadata`, plus sous's extension `sous`: a whole recipe for what that shape cannot say,
 * and `set` overrides as `sous run --set` takes them.
 */
import { Schema } from "effect"

const Auto = Schema.Literal("auto")
const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0, { expected: "a positive integer" }))
const PositiveNumber = Schema.Finite.check(Schema.isGreaterThan(0, { expected: "a positive number" }))

/** Hyperparameters of the supervised method (each `"auto"` or a value). */
export const SupervisedHyperparameters = Schema.Struct({
  batch_size: Schema.optionalKey(Schema.Union([Auto, PositiveInt])),
  learning_rate_multiplier: Schema.optionalKey(Schema.Union([Auto, PositiveNumber])),
  n_epochs: Schema.optionalKey(Schema.Union([Auto, PositiveInt]))
})
export type SupervisedHyperparameters = typeof SupervisedHyperparameters.Type

/** Hyperparameters of DPO: the supervised ones and `beta`. */
export const DpoHyperparameters = Schema.Struct({
  ...SupervisedHyperparameters.fields,
  beta: Schema.optionalKey(Schema.Union([Auto, PositiveNumber]))
})
export type DpoHyperparameters = typeof DpoHyperparameters.Type

/** The method: its type and that type's settings. */
export const JobMethod = Schema.Struct({
  type: Schema.Literals(["supervised", "dpo", "reinforcement"]),
  supervised: Schema.optionalKey(Schema.Struct({ hyperparameters: Schema.optionalKey(SupervisedHyperparameters) })),
  dpo: Schema.optionalKey(Schema.Struct({ hyperparameters: Schema.optionalKey(DpoHyperparameters) })),
  reinforcement: Schema.optionalKey(Schema.Unknown)
})
export type JobMethod = typeof JobMethod.Type

/** sous's extension: a recipe object to run instead of one built from the OpenAI fields, and overrides. */
export const SousExtension = Schema.Struct({
  recipe: Schema.optionalKey(Schema.Record(Schema.String, Schema.Unknown)),
  set: Schema.optionalKey(Schema.Array(Schema.String))
})
export type SousExtension = typeof SousExtension.Type

/** The create-job body. */
export const CreateJobRequest = Schema.Struct({
  model: Schema.String.check(Schema.isMinLength(1, { expected: "a model name" })),
  training_file: Schema.String,
  validation_file: Schema.optionalKey(Schema.NullOr(Schema.String)),
  hyperparameters: Schema.optionalKey(SupervisedHyperparameters),
  method: Schema.optionalKey(JobMethod),
  suffix: Schema.optionalKey(
    Schema.NullOr(Schema.String.check(Schema.isPattern(/^[A-Za-z0-9_-]{1,64}$/, { expected: "1 to 64 letters, digits, _ or -" })))
  ),
  seed: Schema.optionalKey(Schema.NullOr(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 2_147_483_647 }, { expected: "an integer from 0 to 2147483647" })))),
  metadata: Schema.optionalKey(
    Schema.NullOr(
      Schema.Record(Schema.String, Schema.String.check(Schema.isMaxLength(512, { expected: "at most 512 characters" }))).check(
        Schema.makeFilter((record) => Object.keys(record).length <= 16 || "at most 16 keys")
      )
    )
  ),
  integrations: Schema.optionalKey(Schema.Unknown),
  sous: Schema.optionalKey(SousExtension)
})
export type CreateJobRequest = typeof CreateJobRequest.Type
