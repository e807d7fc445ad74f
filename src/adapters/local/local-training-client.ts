import { Effect, Scope } from "effect"
import { messageOf } from "../../ports/thrown-message.js"
import { type AdamParams, type Datum, float32, type ForwardBackwardOutput, InvalidRequestError, type LossFnConfig, type LossFnType, type ModelArchitecture, type StateRef, type TrainingClient, type TrainingError } from "../../ports/index.js"
import { compute, computeAsync } from "./compute.js"
import { type LossRequest, lossRequest } from "./datum-batch.js"
import {
  disposeTrainer,
  forwardBackwardPass,
  forwardPass,
  type LocalTrainer,
  type LossResult,
  optimizerStep
} from "./local-trainer.js"
import type { LoraSettings } from "./lora.js"
import { parameterCount } from "./model.js"
import { estimateStepActivations } from "./memory-estimate.js"
import { type ShardPool, startShardPool } from "./parallel/shard-pool.js"
import { joinResults, splitRequest } from "./parallel/shard-request.js"
import { makeSerialExecutor } from "./serial-executor.js"
import { startTrainer } from "./start-trainer.js"
import { decodeState } from "./state-codec.js"
import type { LocalDevice } from "./tf-runtime.js"
import { reusedFloat32 } from "./tensor-memory.js"
import { baseProblem, restoreTrainer, saveTrainer, stateProblem, trainerStatePieces } from "./trainer-state.js"

/** What a local training client is built from. */
export interface LocalTrainingClientOptions {
  readonly modelId: string
  readonly baseModel: string
  readonly architecture: ModelArchitecture
  readonly seed: number
  /** Train low-rank adapters over a frozen base instead of every weight. */
  readonly lora?: LoraSettings | undefined
  readonly device: string
  /** Parts a batch is cut into, one per thread (1: this thread alone; see `ShardPool`). */
  readonly threads: number
  /**
   * Batches smaller than this (datums × positions × model weights) run on this thread
   * alone: below it, handing parts to threads costs more than it saves. 0 cuts every batch.
   */
  readonly minParallelWork: number
  /** The TensorFlow.js backend the worker threads start, the one this thread runs. */
  readonly workerDevice: LocalDevice
  /** Bytes of estimated activations one pass on this thread may keep (see `LocalBackendOptions`). */
  readonly activationBudget: number
  /** Owns the client's tensors and worker: closing it frees both. */
  readonly scope: Scope.Scope
}

const adamProblem = (adam: AdamParams): string | undefined => {
  // 0 is allowed, as the protocol allows it (a warm-up step, or the moments alone).
  if (!(adam.learning_rate >= 0 && Number.isFinite(adam.learning_rate))) {
    return `learning_rate must be finite and >= 0, got ${adam.learning_rate}`
  }
  if (!(adam.beta1 >= 0 && adam.beta1 < 1)) return `beta1 must be in [0, 1), got ${adam.beta1}`
  if (!(adam.beta2 >= 0 && adam.beta2 < 1)) return `beta2 must be in [0, 1), got ${adam.beta2}`
  // Not 0: a weight whose gradient is zero would step by 0 / (0 + eps), NaN.
  if (!(adam.eps > 0 && Number.isFinite(adam.eps))) return `eps must be > 0 and finite, got ${adam.eps}`
  if (!(adam.weight_decay >= 0)) return `weight_decay must be >= 0, got ${adam.weight_decay}`
  if (!(adam.grad_clip_norm >= 0)) return `grad_clip_norm must be >= 0 (0 = off), got ${adam.grad_clip_norm}`
  return undefined
}

/**
 * The protocol's answer to a loss request: per datum the target logprobs and the loss at
 * each position, and for classifiers `class_logprobs`, every class's log-probability (a sous
 * extension, as their float_tensor inputs are); metrics summed (`loss:sum`, and `weights:sum`
 * for cross-entropy).
 */
/**
 * A loss pass over a request, in consecutive parts of its datums when its estimated
 * activations would pass `budget` bytes: the losses are sums over datums, so the parts'
 * gradients accumulate to the whole batch's, and their results join in order. Decided by the
 * request alone, so a resumed run cuts every batch as the first run did.
 */
const passInParts = (
  pass: (trainer: LocalTrainer, request: LossRequest) => LossResult,
  trainer: LocalTrainer,
  request: LossRequest,
  budget: number
): LossResult => {
  const parts = Math.ceil(estimateStepActivations(trainer.model.architecture, request.batch.lengths) / budget)
  return parts <= 1 ? pass(trainer, request) : joinResults(splitRequest(request, parts).map((part) => pass(trainer, part)))
}

/** The values as a plain array: a loop, ten times as fast as `Array.from` on the short rows of a batch. */
const numbers = (values: Float32Array): Array<number> => {
  const out = new Array<number>(values.length)
  for (let i = 0; i < values.length; i++) out[i] = values[i]!
  return out
}

const lossOutput = (request: LossRequest, result: LossResult): ForwardBackwardOutput => {
  const metrics: Record<string, number> = { "loss:sum": result.loss }
  const weights = request.batch.inputs.get("weights")
  if (weights !== undefined) metrics["weights:sum"] = weights.reduce((total, w) => total + w, 0)
  return {
    loss_fn_output_type: request.lossFn,
    loss_fn_outputs: result.targetLogprobs.map((logprobs, row) => {
      const classes = result.classLogprobs?.[row]
      return {
        logprobs: float32(numbers(logprobs)),
        elementwise_loss: float32(numbers(result.positionLosses[row]!)),
        ...(classes === undefined ? {} : { class_logprobs: float32(numbers(classes)) })
      }
    }),
    metrics
  }
}

/** Number of weights the client trains: the model's, or its adapters'. */
const trainedCount = (trainer: LocalTrainer): number =>
  [...trainer.trained.variables.values()].reduce((total, variable) => total + variable.size, 0)

/**
 * A {@link TrainingClient} over a TensorFlow.js model built from `architecture` and `seed`
 * (a frozen base with trained adapters when `lora` is given). Requests are checked when
 * submitted (bad ones fail at once with an `InvalidRequestError`) and run one at a time, in
 * submission order. The one check left to the run is whether adapters match the base they
 * load onto, which a load queued before them may replace: its `InvalidRequestError` fails
 * the load's result.
 */
export const makeLocalTrainingClient = Effect.fn("LocalTrainingClient.make")(
  function*(options: LocalTrainingClientOptions): Effect.fn.Return<TrainingClient["Service"], TrainingError | InvalidRequestError> {
    const { architecture, scope } = options
    const trainer = yield* startTrainer("createTrainingClient", architecture, options.seed, options.lora)
    // Added before the worker starts, so it runs after the worker has stopped.
    yield* Scope.addFinalizer(scope, Effect.sync(() => disposeTrainer(trainer)))
    const executor = yield* makeSerialExecutor(scope)

    // Started by the first batch worth cutting. Its finalizer comes after the trainer's, so
    // the threads end before the trainer's tensors are freed.
    let pool: ShardPool | undefined
    yield* Scope.addFinalizer(scope, Effect.promise(async () => pool?.close()))
    // The whole model's weights: under LoRA the frozen base still runs every pass.
    const weights = parameterCount(architecture)
    // Decided by the batch alone, so a resumed run cuts every batch as the first run did.
    const poolFor = (request: LossRequest): ShardPool | undefined => {
      const { batchSize, length } = request.batch
      if (options.threads < 2 || batchSize < 2 || batchSize * length * weights < options.minParallelWork) return undefined
      pool ??= startShardPool(trainer, { architecture, seed: options.seed, lora: options.lora, device: options.workerDevice }, options.threads - 1)
      return pool
    }

    // Checked at submission, so a bad request fails at once and never reaches the queue.
    const lossCall = (operation: string, backward: boolean) =>
      Effect.fn(`LocalTrainingClient.${operation}`)(
        function*(data: ReadonlyArray<Datum>, lossFn: LossFnType, config?: LossFnConfig) {
          const request = yield* lossRequest(operation, architecture, data, lossFn, config)
          const pass = backward ? forwardBackwardPass : forwardPass
          return yield* executor.submit(Effect.flatMap(
            compute(operation, () => poolFor(request)),
            (shards) =>
              shards === undefined
                ? compute(operation, () => lossOutput(request, passInParts(pass, trainer, request, options.activationBudget)))
                : computeAsync(operation, async () => lossOutput(request, await shards.run(request, backward)))
          ))
        }
      )
    const forward = lossCall("forward", false)
    const forwardBackward = lossCall("forwardBackward", true)

    const optimStep = Effect.fn("LocalTrainingClient.optimStep")(function*(adam: AdamParams) {
      const problem = adamProblem(adam)
      if (problem !== undefined) return yield* new InvalidRequestError({ operation: "optimStep", message: problem })
      return yield* executor.submit(compute("optimStep", () => {
        const { gradNorm } = optimizerStep(trainer, adam)
        pool?.weightsChanged("trained")
        return { metrics: { "grad_norm:mean": gradNorm, "learning_rate:mean": adam.learning_rate } }
      }))
    })

    // Full state (weights and optimizer) for checkpoints; weights alone for samplers.
    const save = (operation: string, kind: "state" | "weights") => (name: string) =>
      executor.submit(
        computeAsync(operation, async (): Promise<StateRef> => ({ _tag: "Bytes", bytes: await saveTrainer(trainer, name, kind) }))
      )
    const saveState = save("saveState", "state")
    // The weights' copy for lent states, kept so that saves after the first reuse touched memory.
    const staging = reusedFloat32()
    const lendState = Effect.fn("LocalTrainingClient.lendState")(function*(name: string) {
      return yield* executor.hold(compute("lendState", () => trainerStatePieces(trainer, name, staging)))
    })
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
          catch: (error) => new InvalidRequestError({ operation: "loadState", message: messageOf(error), cause: error })
        })
        const problem = stateProblem(trainer, state, loadOptions.optimizer)
        if (problem !== undefined) return yield* new InvalidRequestError({ operation: "loadState", message: problem })
        // The base adapters need is checked when the load runs: a load queued before it may replace the base.
        return yield* executor.submit(Effect.gen(function*() {
          const mismatch = yield* compute("loadState", () => baseProblem(trainer, state))
          if (mismatch !== undefined) return yield* new InvalidRequestError({ operation: "loadState", message: mismatch })
          yield* compute("loadState", () => restoreTrainer(trainer, state, loadOptions.optimizer))
          pool?.weightsChanged("all")
        }))
      }
    )

    const info = Effect.succeed({
      modelId: options.modelId,
      baseModel: options.baseModel,
      parameterCount: trainedCount(trainer),
      device: options.device
    })

    return { forward, forwardBackward, optimStep, saveState, lendState, loadState, saveWeightsForSampler, info }
  }
)
