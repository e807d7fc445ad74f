import { Schema } from "effect"
import { ModelInput } from "./model-input.js"
import { TensorData } from "./tensor-data.js"

/**
 * One training example: the model input and the named tensors its loss reads
 * (`target_tokens`, `weights`, `advantages`, ...). Position i of the input predicts
 * `target_tokens[i]`, so a sequence `s` becomes input `s[:-1]` and targets `s[1:]`.
 */
export const Datum = Schema.Struct({
  model_input: ModelInput,
  loss_fn_inputs: Schema.Record(Schema.String, TensorData)
})
export type Datum = typeof Datum.Type
