import { readFileSync, statSync } from "node:fs"
import { join } from "node:path"
import { Effect, Exit } from "effect"
import type { HfModelArchitecture } from "../../../ports/index.js"
import { messageOf } from "../../../ports/thrown-message.js"
import { readHfModelDirectory } from "../../hf-model/model-directory.js"
import { type ParameterSet, type ParameterSpec, zeros } from "../parameters.js"
import { decodeHfArchitecture, type HfArchitecture } from "./hf-architecture.js"
import { hfWeightSpecs, loadHfWeights } from "./hf-weights.js"

/** A Hugging Face model's config.json, decoded, with the one raw number the decoders leave out. */
export interface HfDecoded {
  readonly arch: HfArchitecture
  /** The longest sequence the model has positions for (`max_position_embeddings`, GPT-2's `n_positions`). */
  readonly positions: number | undefined
}

const decodeConfig = (dir: string): HfDecoded | string => {
  const path = join(dir, "config.json")
  let config: unknown
  try {
    config = JSON.parse(readFileSync(path, "utf8"))
  } catch (error) {
    return `cannot read ${path}: ${messageOf(error)}`
  }
  const exit = Effect.runSyncExit(decodeHfArchitecture(config, path))
  if (Exit.isFailure(exit)) {
    const error = Exit.findErrorOption(exit)
    return error._tag === "Some" ? error.value.message : `cannot decode ${path}`
  }
  const arch = exit.value
  const raw = (config as Record<string, unknown>)["max_position_embeddings"]
  return { arch, positions: arch.family === "gpt2" ? arch.positions : typeof raw === "number" ? raw : undefined }
}

// Decoded once per version of a directory's config.json: every spec, estimate and forward
// pass of a model asks for it. Keyed by the file's modification time and size too, so a
// long-lived process (a server, the job service) sees a config that changed, and failures
// are not kept, so a fixed file is read again.
const decodedConfigs = new Map<string, { readonly version: string; readonly decoded: HfDecoded }>()

/**
 * The config.json of the model directory `dir`, decoded (kept per version of the file), or why
 * it cannot be: unreadable, or a model the local backend does not run (each field named).
 */
export const decodedHfConfig = (dir: string): HfDecoded | string => {
  let version: string
  try {
    const stats = statSync(join(dir, "config.json"))
    version = `${stats.mtimeMs}:${stats.size}`
  } catch (error) {
    return `cannot read ${join(dir, "config.json")}: ${messageOf(error)}`
  }
  const cached = decodedConfigs.get(dir)
  if (cached?.version === version) return cached.decoded
  const decoded = decodeConfig(dir)
  if (typeof decoded !== "string") decodedConfigs.set(dir, { version, decoded })
  return decoded
}

/**
 * Why a Hugging Face model cannot be trained as `arch` asks, or `undefined`: its config.json
 * is unreadable or describes what the local backend does not run (each field named), the
 * data's vocabulary is larger than the model's, or `contextLength` exceeds its positions or
 * Mistral's attention window.
 */
export const hfModelProblem = (arch: HfModelArchitecture): string | undefined => {
  const decoded = decodedHfConfig(arch.dir)
  if (typeof decoded === "string") return decoded
  const { arch: model, positions } = decoded
  if (arch.vocabSize > model.vocabSize) {
    return `the tokenizer has ${arch.vocabSize} ids, more than the model's vocab_size ${model.vocabSize} (${arch.dir}); ` +
      "use the model's own tokenizer (its tokenizer.json, which a recipe without a tokenizer section takes)"
  }
  if (positions !== undefined && arch.contextLength > positions) {
    return `contextLength ${arch.contextLength} exceeds the ${positions} positions of the model at ${arch.dir}`
  }
  if (model.family === "llama" && model.slidingWindow !== undefined && arch.contextLength > model.slidingWindow) {
    return `contextLength ${arch.contextLength} exceeds sliding_window ${model.slidingWindow} of the model at ${arch.dir} (sliding-window attention is not implemented)`
  }
  return undefined
}

/** The decoded architecture of a model {@link hfModelProblem} accepted; throws with its problem otherwise. */
export const hfArchitectureOf = (arch: HfModelArchitecture): HfArchitecture => {
  const decoded = decodedHfConfig(arch.dir)
  if (typeof decoded === "string") throw new Error(decoded)
  return decoded.arch
}

/**
 * The weights of a Hugging Face model as the local backend holds them, by their Hugging Face
 * names, Linear weights [in, out]. Built from these, they start at zero: a trainer takes
 * {@link loadHfStart}'s weights instead, and a shard worker gets them from the main thread.
 */
export const hfParameterSpecs = (arch: HfModelArchitecture): ReadonlyArray<ParameterSpec> =>
  hfWeightSpecs(hfArchitectureOf(arch)).map((spec) => ({
    name: spec.name,
    shape: spec.transposed ? [...spec.shape].reverse() : spec.shape,
    init: zeros
  }))

/**
 * The weights of the directory `arch` names, as {@link hfParameterSpecs} lays them out
 * (trainable variables when `trainable`): a base model's weights are its starting point.
 * Fails naming the file or tensor at fault. Free the result with `disposeParameters`.
 */
export const loadHfStart = (arch: HfModelArchitecture, trainable: boolean): Effect.Effect<ParameterSet, Error> =>
  Effect.gen(function*() {
    const decoded = decodedHfConfig(arch.dir)
    if (typeof decoded === "string") return yield* Effect.fail(new Error(decoded))
    const directory = yield* readHfModelDirectory(arch.dir)
    return yield* loadHfWeights(decoded.arch, directory.tensors, arch.dir, trainable)
  }).pipe(Effect.mapError((error) => new Error(error.message)))
