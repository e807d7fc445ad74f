import { Effect } from "effect"
import { InvalidRequestError, type ModelArchitecture, type TrainingError } from "../../ports/index.js"
import { compute } from "./compute.js"
import { loadHfStart } from "./hf/hf-model.js"
import { createTrainer, type LocalTrainer } from "./local-trainer.js"
import { disposeParameters } from "./parameters.js"
import type { LoraSettings } from "./lora.js"

/**
 * A trainer at its starting point: sous's models drawn from `seed`, a Hugging Face model with
 * the weights of its directory (unreadable or misfit weights are refused, naming the file or
 * tensor; loaded weights are freed if the trainer cannot be built around them). The caller
 * frees the result with `disposeTrainer`.
 */
export const startTrainer = (
  operation: string,
  architecture: ModelArchitecture,
  seed: number,
  lora?: LoraSettings
): Effect.Effect<LocalTrainer, TrainingError | InvalidRequestError> =>
  architecture.kind !== "hf"
    ? compute(operation, () => createTrainer(architecture, seed, lora))
    : loadHfStart(architecture, lora === undefined).pipe(
      Effect.mapError((error) => new InvalidRequestError({ operation, message: error.message, cause: error })),
      // Built around the loaded weights: zeros first, then the checkpoint, held the model twice.
      Effect.flatMap((weights) =>
        compute(operation, () => createTrainer(architecture, seed, lora, weights)).pipe(
          Effect.onError(() => Effect.sync(() => disposeParameters(weights)))
        )
      )
    )
