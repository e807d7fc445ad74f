import { Effect, Scope } from "effect"
import {
  type AdamParams,
  type Datum,
  float32,
  type ForwardBackwardOutput,
  InvalidRequestError,
  type LossFnType,
  type StateRef,
  type TrainingClient,
  type TrainingError,
  type TransformerArchitecture
} from "../../ports/index.js"
import { compute, computeAsync, errorMessage } from "./compute.js"
import { crossEntropyBatch } from "./datum-batch.js"
import {
  createTrainer,
  disposeTrainer,
  forwardBackwardPass,
  forwardPass,
  type LossResult,
  optimizerStep
} from "./local-trainer.js"
import { makeSerialExecutor } from "./serial-executor.js"
import { decodeState } from "./state-codec.js"
import type { TokenBatch } from "./token-batch.js"
import { restoreTrainer, saveTrainer, stateProblem } from "./trainer-state.js"
import { parameterCount } from "./transformer.js"

/** What a local training client is built from. */
export interface LocalTrainingClientOptions {
  readonly modelId: string
  readonly baseModel: string
  readonly architecture: TransformerArchitecture
  readonly seed: number
  readonly device: string
  /** Owns the client's tensors and worker: closing it frees both. */
  readonly scope: Scope.Scope
}

const requireCrossEntropy = (operation: string, lossFn: LossFnType): Effect.Effect<void, InvalidRequestError> =>
  lossFn === "cross_entropy"
    ? Effect.void
    : Effect.fail(
      new InvalidRequestError({
        operation,
        message: `loss "${lossFn}" is not supported by the local backend yet (it supports cross_entropy)`
      })
    )

const adamProblem = (adam: AdamParams): string | undefined => {
  if (!(adam.learning_rate > 0)) return `learning_rate must be > 0, got ${adam.learning_rate}`
  if (!(adam.beta1 >= 0 && adam.beta1 < 1)) return `beta1 must be in [0, 1), got ${adam.beta1}`
  if (!(adam.beta2 >= 0 && adam.beta2 < 1)) return `beta2 must be in [0, 1), got ${adam.beta2}`
  if (!(adam.eps >= 0)) return `eps must be >= 0, got ${adam.eps}`
  if (!(adam.weight_decay >= 0)) return `weight_decay must be >= 0, got ${adam.weight_decay}`
  if (!(adam.grad_clip_norm >= 0)) return `grad_clip_norm must be >= 0 (0 = off), got ${adam.grad_clip_norm}`
  return undefined
}

/** The protocol's answer to a cross-entropy forward: target logprobs and loss per datum, summed metrics. */
const crossEntropyOutput = (batch: TokenBatch, result: LossResult): ForwardBackwardOutput => ({
  loss_fn_output_type: "cross_entropy",
  loss_fn_outputs: result.targetLogprobs.map((logprobs, row) => {
    const weights = batch.weights.subarray(row * batch.length)
    return {
      logprobs: float32(Array.from(logprobs)),
      elementwise_loss: float32(Array.from(logprobs, (lp, i) => -weights[i]! * lp))
    }
  }),
  metrics: { "loss:sum": result.loss, "weights:sum": result.weightSum }
})

/**
 * A {@link TrainingClient} over a TensorFlow.js transformer built from `architecture` and
 * `seed`. Requests are checked when submitted (bad ones fail at once with an
 * `InvalidRequestError`) and run one at a time, in submission order.
 */
export const makeLocalTrainingClient = Effect.fn("LocalTrainingClient.make")(
  function*(options: LocalTrainingClientOptions): Effect.fn.Return<TrainingClient["Service"], TrainingError> {
    const { architecture, scope } = options
    const trainer = yield* compute("createTrainingClient", () => createTrainer(architecture, options.seed))
    // Added before the worker starts, so it runs after the worker has stopped.
    yield* Scope.addFinalizer(scope, Effect.sync(() => disposeTrainer(trainer)))
    const executor = yield* makeSerialExecutor(scope)

    const forward = Effect.fn("LocalTrainingClient.forward")(function*(data: ReadonlyArray<Datum>, lossFn: LossFnType) {
      yield* requireCrossEntropy("forward", lossFn)
      const batch = yield* crossEntropyBatch("forward", data, architecture)
      return yield* executor.submit(compute("forward", () => crossEntropyOutput(batch, forwardPass(trainer, batch))))
    })

    const forwardBackward = Effect.fn("LocalTrainingClient.forwardBackward")(
      function*(data: ReadonlyArray<Datum>, lossFn: LossFnType) {
        yield* requireCrossEntropy("forwardBackward", lossFn)
        const batch = yield* crossEntropyBatch("forwardBackward", data, architecture)
        return yield* executor.submit(
          compute("forwardBackward", () => crossEntropyOutput(batch, forwardBackwardPass(trainer, batch)))
        )
      }
    )

    const optimStep = Effect.fn("LocalTrainingClient.optimStep")(function*(adam: AdamParams) {
      const problem = adamProblem(adam)
      if (problem !== undefined) return yield* new InvalidRequestError({ operation: "optimStep", message: problem })
      return yield* executor.submit(compute("optimStep", () => {
        const { gradNorm } = optimizerStep(trainer, adam)
        return { metrics: { "grad_norm:mean": gradNorm, "learning_rate:mean": adam.learning_rate } }
      }))
    })

    // Full state (weights and optimizer) for checkpoints; weights alone for samplers.
    const save = (operation: string, kind: "state" | "weights") => (name: string) =>
      executor.submit(
        computeAsync(operation, async (): Promise<StateRef> => ({ _tag: "Bytes", bytes: await saveTrainer(trainer, name, kind) }))
      )
    const saveState = save("saveState", "state")
    const saveWeightsForSampler = save("saveWeightsForSampler", "weights")

    const loadState = Effect.fn("LocalTrainingClient.loadState")(
      function*(ref: StateRef, loadOptions: { readonly optimizer: boolean }) {
        if (ref._tag !== "Bytes") {
          return yield* new InvalidRequestError({
            operation: "loadState",
            message: `the local backend loads states from bytes, not from the remote path ${ref.path}`
          })
        }
        const state = yield* Effect.try({
          try: () => decodeState(ref.bytes),
          catch: (error) => new InvalidRequestError({ operation: "loadState", message: errorMessage(error) })
        })
        const problem = stateProblem(trainer, state, loadOptions.optimizer)
        if (problem !== undefined) return yield* new InvalidRequestError({ operation: "loadState", message: problem })
        return yield* executor.submit(compute("loadState", () => restoreTrainer(trainer, state, loadOptions.optimizer)))
      }
    )

    const info = Effect.succeed({
      modelId: options.modelId,
      baseModel: options.baseModel,
      parameterCount: parameterCount(architecture),
      device: options.device
    })

    return { forward, forwardBackward, optimStep, saveState, loadState, saveWeightsForSampler, info }
  }
)
