import { readFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect, Schema } from "effect"
import { messageOf } from "../../ports/thrown-message.js"
import { readFileHashed } from "../fs/read-file-hashed.js"
import { decodeSafetensors, type SafeDtype, type SafeTensor, type SafetensorsError } from "./safetensors.js"

/** A Hugging Face model directory that cannot be read; `path` names the file (or directory) at fault. */
export class HfModelDirectoryError extends Schema.TaggedError<HfModelDirectoryError>()("HfModelDirectoryError", {
  path: Schema.String,
  message: Schema.String,
  /** The file system or JSON error behind the failure, for `--verbose`. */
  cause: Schema.optional(Schema.Defect())
}) {}

/** One weights file of a model directory, as it was read. */
export interface HfWeightFile {
  /** The file's name in the directory, such as `model-00001-of-00002.safetensors`. */
  readonly name: string
  /** The tensors it holds, in file order. */
  readonly tensorNames: ReadonlyArray<string>
  /** Its `__metadata__` strings (transformers writes `{"format": "pt"}`). */
  readonly metadata: Readonly<Record<string, string>> | undefined
  /** The file's SHA-256, hex, so a run can record which weights it started from. */
  readonly sha256: string
}

/** A Hugging Face model directory: its configuration and every weight, shards merged. */
export interface HfModelDirectory {
  readonly dir: string
  /** config.json, parsed but not interpreted: a JSON object. */
  readonly config: unknown
  /** generation_config.json, parsed (a JSON object), or undefined when there is none. */
  readonly generationConfig: unknown
  /** Every tensor of every weights file, by its checkpoint name. */
  readonly tensors: ReadonlyMap<string, SafeTensor>
  /** The checkpoint's type, for writing it back: the dtype that holds the most elements. */
  readonly dtype: SafeDtype
  /** model.safetensors, or the shards in the order the index first names them. */
  readonly files: ReadonlyArray<HfWeightFile>
}

const singleFile = "model.safetensors"
const indexFile = "model.safetensors.index.json"

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

// Undefined when the file does not exist: generation_config.json and either weights layout
// may be absent.
const readIfPresent = <A>(path: string, read: (path: string) => Promise<A>): Effect.Effect<A | undefined, HfModelDirectoryError> =>
  Effect.tryPromise({ try: () => read(path), catch: (cause) => cause }).pipe(
    Effect.catch((cause) =>
      (cause as NodeJS.ErrnoException).code === "ENOENT"
        ? Effect.succeed(undefined)
        : Effect.fail(new HfModelDirectoryError({ path, message: `cannot read ${path}: ${messageOf(cause)}`, cause }))
    )
  )

const readBytes = (path: string): Promise<Uint8Array> => readFile(path)

const readJsonObject = (path: string, bytes: Uint8Array): Effect.Effect<Record<string, unknown>, HfModelDirectoryError> =>
  Effect.try({
    try: () => JSON.parse(new TextDecoder().decode(bytes)) as unknown,
    catch: (cause) => new HfModelDirectoryError({ path, message: `${path} is not valid JSON: ${messageOf(cause)}`, cause })
  }).pipe(
    Effect.filterOrFail(isObject, () => new HfModelDirectoryError({ path, message: `${path} does not hold a JSON object` }))
  )

// The shard names of an index, each with the tensors it must hold, in the order the index
// first names each file.
const readIndex = (path: string, bytes: Uint8Array): Effect.Effect<Map<string, Set<string>>, HfModelDirectoryError> =>
  Effect.gen(function*() {
    const index = yield* readJsonObject(path, bytes)
    const fail = (message: string) => new HfModelDirectoryError({ path, message: `${path}: ${message}` })
    const weightMap = index.weight_map
    if (!isObject(weightMap)) return yield* fail("has no weight_map object")
    const shards = new Map<string, Set<string>>()
    for (const [tensor, file] of Object.entries(weightMap)) {
      if (typeof file !== "string") return yield* fail(`weight_map gives tensor ${JSON.stringify(tensor)} a file that is not a string`)
      // A plain name in the directory: the index is data, so it may not point elsewhere.
      if (file === "" || file === "." || file === ".." || /[/\\]/.test(file)) {
        return yield* fail(`weight_map names ${JSON.stringify(file)} for tensor ${JSON.stringify(tensor)}, not a file name in the directory`)
      }
      const names = shards.get(file) ?? new Set<string>()
      names.add(tensor)
      shards.set(file, names)
    }
    if (shards.size === 0) return yield* fail("has an empty weight_map")
    return shards
  })

// The dtype holding the most elements; ties go to the wider type.
const checkpointDtype = (tensors: ReadonlyMap<string, SafeTensor>): SafeDtype => {
  const counts: Record<SafeDtype, number> = { F32: 0, BF16: 0, F16: 0 }
  for (const tensor of tensors.values()) counts[tensor.dtype] += tensor.values.length
  return (["F32", "BF16", "F16"] as const).reduce((best, dtype) => counts[dtype] > counts[best] ? dtype : best)
}

interface LoadedFile {
  readonly file: HfWeightFile
  readonly tensors: ReadonlyMap<string, SafeTensor>
}

// Undefined when the file does not exist. Read in pieces (`readFile` cannot read a file over
// 2 GiB, and shards of real models are often larger), hashed on the way.
const loadWeights = (path: string, name: string): Effect.Effect<LoadedFile | undefined, HfModelDirectoryError | SafetensorsError> =>
  Effect.gen(function*() {
    const read = yield* readIfPresent(path, readFileHashed)
    if (read === undefined) return undefined
    const { metadata, tensors } = yield* decodeSafetensors(read.bytes, path)
    return { file: { name, tensorNames: [...tensors.keys()], metadata, sha256: read.sha256 }, tensors }
  })

/**
 * Reads a Hugging Face model directory, as `save_pretrained(dir, safe_serialization=True)`
 * writes it: config.json (required), generation_config.json (when present) and the weights,
 * from model.safetensors when it exists (as transformers prefers it) or else from the shards
 * that model.safetensors.index.json maps each tensor to. Every shard the index names must
 * exist and hold exactly the tensors the index gives it; the failure names the file.
 *
 * Each weights file is read whole into memory (hashed as it is read), then widened to
 * float32, so a model takes its file size plus its float32 size in memory while loading;
 * decoding tensor by tensor from the file, without holding it whole, is left for larger models.
 */
export const readHfModelDirectory = Effect.fn("HfModelDirectory.read")(function*(dir: string) {
  const configPath = join(dir, "config.json")
  const configBytes = yield* readIfPresent(configPath, readBytes)
  if (configBytes === undefined) {
    return yield* new HfModelDirectoryError({ path: configPath, message: `${dir} holds no config.json: not a Hugging Face model directory` })
  }
  const config = yield* readJsonObject(configPath, configBytes)
  const generationPath = join(dir, "generation_config.json")
  const generationBytes = yield* readIfPresent(generationPath, readBytes)
  const generationConfig = generationBytes === undefined ? undefined : yield* readJsonObject(generationPath, generationBytes)

  const single = yield* loadWeights(join(dir, singleFile), singleFile)
  if (single !== undefined) {
    const { file, tensors } = single
    const result: HfModelDirectory = { dir, config, generationConfig, tensors, dtype: checkpointDtype(tensors), files: [file] }
    return result
  }
  const indexPath = join(dir, indexFile)
  const indexBytes = yield* readIfPresent(indexPath, readBytes)
  if (indexBytes === undefined) {
    return yield* new HfModelDirectoryError({ path: dir, message: `${dir} holds neither ${singleFile} nor ${indexFile}` })
  }
  const shards = yield* readIndex(indexPath, indexBytes)
  const tensors = new Map<string, SafeTensor>()
  const files: Array<HfWeightFile> = []
  for (const [name, expected] of shards) {
    const path = join(dir, name)
    const loaded = yield* loadWeights(path, name)
    if (loaded === undefined) return yield* new HfModelDirectoryError({ path, message: `${indexPath} names ${name}, which does not exist` })
    // A tensor in two shards, or in a shard the index does not send it to, would make the
    // weights depend on which file is read last.
    for (const [tensor, value] of loaded.tensors) {
      if (!expected.has(tensor)) {
        const elsewhere = [...shards].find(([, names]) => names.has(tensor))?.[0]
        const where = elsewhere === undefined ? "does not name" : `maps to ${elsewhere}`
        const message = `${path} holds tensor ${JSON.stringify(tensor)}, which ${indexFile} ${where}`
        return yield* new HfModelDirectoryError({ path, message })
      }
      tensors.set(tensor, value)
    }
    const missing = [...expected].filter((tensor) => !loaded.tensors.has(tensor))
    if (missing.length > 0) {
      return yield* new HfModelDirectoryError({
        path,
        message: `${path} lacks ${missing.map((tensor) => JSON.stringify(tensor)).join(", ")}, which ${indexFile} maps to it`
      })
    }
    files.push(loaded.file)
  }
  const result: HfModelDirectory = { dir, config, generationConfig, tensors, dtype: checkpointDtype(tensors), files }
  return result
})

const tokenIds = (value: unknown): ReadonlyArray<number> =>
  typeof value === "number" ? [value] : Array.isArray(value) ? value.filter((id): id is number => typeof id === "number") : []

/**
 * The ids that end the text of the model in `dir`: generation_config.json's `eos_token_id`
 * (an id or a list), as transformers' `generate` reads it, else config.json's; none when
 * neither gives one.
 */
export const readHfEosIds = Effect.fn("HfModelDirectory.readEosIds")(function*(dir: string) {
  const read = (name: string) =>
    Effect.gen(function*() {
      const path = join(dir, name)
      const bytes = yield* readIfPresent(path, readBytes)
      return bytes === undefined ? {} : yield* readJsonObject(path, bytes)
    })
  const fromGeneration = tokenIds((yield* read("generation_config.json"))["eos_token_id"])
  return fromGeneration.length > 0 ? fromGeneration : tokenIds((yield* read("config.json"))["eos_token_id"])
})
