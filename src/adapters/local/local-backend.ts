import { Effect, Layer, Scope } from "effect"
import { availableParallelism } from "node:os"
import { messageOf } from "../../ports/thrown-message.js"
import { type BackendCapabilities, type BaseModelSource, type TrainingError, type LossFnType, BackendUnavailableError, InvalidRequestError, type ModelArchitecture, type StateRef, TrainingBackend, type TrainingClientConfig } from "../../ports/index.js"
import { computeAsync } from "./compute.js"
import { disposeTrainer } from "./local-trainer.js"
import { startTrainer } from "./start-trainer.js"
import { loadHfStart } from "./hf/hf-model.js"
import { makeLocalSamplingClient, samplingClientOver } from "./local-sampling-client.js"
import { makeLocalTrainingClient } from "./local-training-client.js"
import { samplerWeightsProblem } from "./sampler-weights.js"
import { decodeState } from "./state-codec.js"
import type { Decode } from "./stop-sequences.js"
import { saveTrainer } from "./trainer-state.js"
import { initTfRuntime, type LocalDevice } from "./tf-runtime.js"
import { lossSpecs } from "./losses.js"
import { maxLoraRank, resolveLora } from "./lora-config.js"
import { architectureProblem } from "./architecture-problem.js"

/** Settings of the local backend. */
export interface LocalBackendOptions {
  /** Which TensorFlow.js backend to run; `auto` (the default) takes the fastest installed. */
  readonly device?: LocalDevice
  /** The tokenizer's `decode`, so sampling can honour stop strings. */
  readonly decode?: Decode | undefined
  /**
   * Threads a training client cuts each batch across (data parallel: see `ShardPool`). `auto`
   * (the default) takes one per core, at most {@link maxAutoThreads}, for batches worth it
   * (see {@link minAutoParallelWork}), on the wasm and cpu backends (tfjs-node already uses
   * every core); a number cuts every batch of two datums or more into that many parts. The
   * count changes results by rounding only, and they are the same every time for one count.
   */
  readonly threads?: number | "auto" | undefined
  /**
   * Bytes of activations (as `estimateStepActivations` counts them) one pass of a training
   * client may keep for its backward pass; a batch over it runs in parts of consecutive
   * datums whose gradients add up to the batch's (default {@link defaultActivationBudget}).
   */
  readonly activationBudget?: number | undefined
}

/**
 * Measured at SmolLM2-135M's shape on wasm, the tape held about 2.5 times the estimate, and 4
 * rows of 128 tokens (a 0.9 GB estimate) ran tfjs-wasm out of its 4 GiB heap beside the
 * weights; one row (0.23 GB) fits. The small models of the examples never reach it.
 */
export const defaultActivationBudget = 256 * 1024 * 1024

/** `auto` threads use at most this many: more parts of a small model's batch stop paying. */
export const maxAutoThreads = 4

/**
 * With `auto` threads, a batch is cut only from this much work (datums × positions × model
 * weights; about 0.3 GFLOP for a forward and backward pass): a smaller one runs faster on one
 * thread than handed out. On 2 cores, the sft-arithmetic transformer (work about 1e8 at its
 * batch of 16) ran its examples 9 to 16% faster on 2 threads than on 1, and its batch of 64
 * 1.55 to 1.77 times as fast; with sous's own product kernel (a step half as long), the example
 * still ran 15 to 22% faster on 2 threads. The MLP of the bench (work about 6.5e6) ran at
 * about half the speed on 2 threads.
 */
export const minAutoParallelWork = 5e7

/** Why a `threads` setting is wrong, or `undefined`. */
export const threadsProblem = (threads: LocalBackendOptions["threads"]): string | undefined =>
  threads === undefined || threads === "auto" || (Number.isInteger(threads) && threads >= 1)
    ? undefined
    : `threads must be "auto" or an integer >= 1, got ${String(threads)}`

/**
 * A {@link TrainingBackend} that trains small transformers in this process with
 * TensorFlow.js, and samples from the weights they save. The tensors of each client it
 * creates are freed when the scope the client was created in closes.
 */
export const makeLocalBackend = Effect.fn("LocalBackend.make")(function*(options: LocalBackendOptions = {}) {
  const runtime = yield* initTfRuntime(options.device ?? "auto")
  const badThreads = threadsProblem(options.threads)
  if (badThreads !== undefined) return yield* new BackendUnavailableError({ backend: "local", message: badThreads })
  const native = runtime.backend === "tensorflow"
  const threadPlan = {
    threads: options.threads === undefined || options.threads === "auto"
      ? native ? 1 : Math.min(availableParallelism(), maxAutoThreads)
      : options.threads,
    minParallelWork: options.threads === undefined || options.threads === "auto" ? minAutoParallelWork : 0,
    workerDevice: native ? options.device ?? "auto" : runtime.backend as LocalDevice,
    activationBudget: options.activationBudget ?? defaultActivationBudget
  }
  let clients = 0

  const capabilities: BackendCapabilities = {
    backend: "local",
    device: runtime.device,
    deviceReason: runtime.reason,
    losses: Object.keys(lossSpecs) as Array<LossFnType>,
    maxLoraRank,
    // Custom losses run client-side (forwardBackwardCustom) over forward and cross_entropy.
    customLoss: true,
    sampling: true,
    durableCheckpoints: false
  }

  const createTrainingClient = Effect.fn("LocalBackend.createTrainingClient")(function*(config: TrainingClientConfig) {
    const invalid = (message: string) => new InvalidRequestError({ operation: "createTrainingClient", message })
    const architecture = config.architecture
    if (architecture === undefined) {
      return yield* invalid(
        `the local backend builds models from an architecture; none was given for "${config.baseModel}"`
      )
    }
    const problem = architectureProblem(architecture)
    if (problem !== undefined) return yield* invalid(problem)
    const lora = config.lora === undefined ? undefined : resolveLora(config.lora, architecture)
    if (typeof lora === "string") return yield* invalid(lora)
    clients += 1
    return yield* makeLocalTrainingClient({
      modelId: `local-${clients}`,
      baseModel: config.baseModel,
      architecture,
      seed: config.seed,
      lora,
      device: runtime.device,
      ...threadPlan,
      scope: yield* Scope.Scope
    })
  })

  const invalidSampling = (message: string, cause?: unknown) => new InvalidRequestError({ operation: "createSamplingClient", message, cause })

  /**
   * The architecture and seed of a base model: the seeded initialisation of an architecture,
   * or the weights of a Hugging Face directory. Checked as createTrainingClient checks it, so a
   * bad one is refused, not a failed build.
   */
  const baseModel = (source: BaseModelSource): Effect.Effect<{ readonly architecture: ModelArchitecture; readonly seed: number }, InvalidRequestError> => {
    const { architecture, seed } = source
    if (architecture === undefined || seed === undefined) {
      return Effect.fail(invalidSampling(
        `the local backend has no named base models ("${source.baseModel}"): ` +
          "give an architecture and a seed, or sample from saveWeightsForSampler's bytes"
      ))
    }
    const problem = architectureProblem(architecture)
    return problem === undefined ? Effect.succeed({ architecture, seed }) : Effect.fail(invalidSampling(problem))
  }

  // A seeded base model's weights, saved as a trainer's would be.
  const seededWeights = (name: string, architecture: ModelArchitecture, seed: number): Effect.Effect<Uint8Array, InvalidRequestError | TrainingError> =>
    Effect.acquireUseRelease(
      startTrainer("createSamplingClient", architecture, seed),
      (trainer) => computeAsync("createSamplingClient", () => saveTrainer(trainer, name, "weights")),
      (trainer) => Effect.sync(() => disposeTrainer(trainer))
    )

  const createSamplingClient = Effect.fn("LocalBackend.createSamplingClient")(
    function*(source: StateRef | BaseModelSource) {
      if ("_tag" in source && source._tag === "Remote") {
        return yield* invalidSampling(`the local backend loads weights from bytes, not from ${source.path}`)
      }
      let bytes: Uint8Array
      if ("_tag" in source) {
        bytes = source.bytes
      } else {
        const { architecture, seed } = yield* baseModel(source)
        if (architecture.kind === "hf") {
          // Read straight into frozen weights: through a trainer and saved bytes, the model was
          // held twice in the heap and took half as long again to load.
          const weights = yield* loadHfStart(architecture, false).pipe(Effect.mapError((error) => invalidSampling(error.message, error)))
          return yield* samplingClientOver({ architecture, ...weights }, yield* Scope.Scope, { decode: options.decode })
        }
        bytes = yield* seededWeights(source.baseModel, architecture, seed)
      }
      const state = yield* Effect.try({ try: () => decodeState(bytes), catch: (e) => invalidSampling(messageOf(e), e) })
      const problem = samplerWeightsProblem(state)
      if (problem !== undefined) return yield* invalidSampling(problem)
      return yield* makeLocalSamplingClient(state, yield* Scope.Scope, { decode: options.decode })
    }
  )

  return TrainingBackend.of({ createTrainingClient, createSamplingClient, capabilities: Effect.succeed(capabilities) })
})

/** The local backend as a layer: `Layer.provide(localBackendLayer({ device: "wasm" }))`. */
export const localBackendLayer = (
  options: LocalBackendOptions = {}
): Layer.Layer<TrainingBackend, BackendUnavailableError> =>
  Layer.effect(TrainingBackend, makeLocalBackend(options))
