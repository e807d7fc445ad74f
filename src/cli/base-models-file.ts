import { existsSync, readFileSync, statSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { Result, Schema } from "effect"
import { decodedHfConfig, hfModelProblem } from "../adapters/local/hf/hf-model.js"
import { formatSchemaProblems, type HfModelArchitecture, ModelArchitecture, schemaProblems, uriScheme } from "../ports/index.js"
import { messageOf } from "../ports/thrown-message.js"
import { UsageError } from "./args.js"

/**
 * A base model given by its Hugging Face directory: `{"hf": "./models/tiny-llama"}`, with an
 * optional `contextLength` below the model's own positions.
 */
const HfBaseModel = Schema.Struct({
  hf: Schema.String,
  contextLength: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThan(0)))
})

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** `schema` decoded from `input`, or every problem, each naming its field. */
const decodeEntry = <A, I>(schema: Schema.Codec<A, I>, input: unknown): A | string =>
  Result.match(Schema.decodeUnknownResult(schema)(input, { errors: "all", onExcessProperty: "error" }), {
    onSuccess: (value): A | string => value,
    onFailure: (error) => formatSchemaProblems(schemaProblems(error, input))
  })

// Both weights layouts transformers writes; which one is read is the loader's business.
const weightsFiles = ["model.safetensors", "model.safetensors.index.json"]

/**
 * The architecture of the Hugging Face model in `dir` (absolute): its config.json read now,
 * so that a model the local backend cannot run stops the server before it listens. Token ids
 * may be any of the model's `vocab_size` (clients bring the model's own tokenizer); the
 * context is the model's positions (and Mistral's attention window) unless `contextLength`
 * asks for less. Returns the problem as a string.
 */
const hfBaseModel = (dir: string, contextLength: number | undefined): HfModelArchitecture | string => {
  if (!existsSync(dir)) return `${dir} does not exist`
  if (!statSync(dir).isDirectory()) return `${dir} is not a directory`
  if (!weightsFiles.some((file) => existsSync(join(dir, file)))) return `${dir} holds neither ${weightsFiles.join(" nor ")}`
  const decoded = decodedHfConfig(dir)
  if (typeof decoded === "string") return decoded
  const { arch: model, positions } = decoded
  const window = model.family === "llama" ? model.slidingWindow : undefined
  const longest = Math.min(positions ?? Infinity, window ?? Infinity)
  const context = contextLength ?? (Number.isFinite(longest) ? longest : undefined)
  if (context === undefined) return `${join(dir, "config.json")} gives no max_position_embeddings: give the model a contextLength`
  const architecture: HfModelArchitecture = { kind: "hf", dir, vocabSize: model.vocabSize, contextLength: context }
  return hfModelProblem(architecture) ?? architecture
}

/**
 * One entry of the file: `{"hf": dir}` (relative to `baseDir`) or an architecture as the
 * local backend builds it. Returns the problem as a string.
 */
const baseModel = (entry: unknown, baseDir: string): ModelArchitecture | string => {
  if (!isRecord(entry) || (!("hf" in entry) && !("kind" in entry))) {
    return `expected {"hf": "<model directory>"} or an architecture {"kind": "transformer", ...}, got ${JSON.stringify(entry)}`
  }
  if (!("hf" in entry)) return decodeEntry(ModelArchitecture, entry)
  const given = decodeEntry(HfBaseModel, entry)
  if (typeof given === "string") return given
  const scheme = uriScheme(given.hf)
  if (scheme !== undefined) {
    return `hf: ${JSON.stringify(given.hf)} is not a local directory; sous serve reads models from disk (download it first)`
  }
  return hfBaseModel(resolve(baseDir, given.hf), given.contextLength)
}

/**
 * Reads `--base-models FILE`: a JSON object from base model names to what each names, either
 * an architecture the local backend builds from scratch or `{"hf": dir, "contextLength"?: n}`,
 * a Hugging Face model directory (relative paths are relative to the file's directory). Every
 * Hugging Face model is checked now; a usage error names the file, the model and the cause.
 */
export const readBaseModels = (file: string | undefined): Readonly<Record<string, ModelArchitecture>> => {
  if (file === undefined) return {}
  let json: unknown
  try {
    json = JSON.parse(readFileSync(file, "utf8"))
  } catch (error) {
    throw new UsageError({ message: `--base-models ${file}: ${messageOf(error)}`, cause: error })
  }
  if (!isRecord(json)) throw new UsageError({ message: `--base-models ${file}: expected {"name": architecture or {"hf": dir}, ...}` })
  const baseDir = dirname(resolve(file))
  const models: Record<string, ModelArchitecture> = {}
  for (const [name, entry] of Object.entries(json)) {
    const model = baseModel(entry, baseDir)
    if (typeof model === "string") throw new UsageError({ message: `--base-models ${file}: model ${JSON.stringify(name)}: ${model}` })
    models[name] = model
  }
  return models
}
