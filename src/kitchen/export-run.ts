/** `sous export`: a run's checkpoint of a Hugging Face model written back as a Hugging Face or PEFT checkpoint. */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { basename, dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { fsBlobStoreLayer } from "../adapters/blob/fs-blob-store.js"
import { readHfModelDirectory } from "../adapters/hf-model/model-directory.js"
import { encodeSafetensors } from "../adapters/hf-model/safetensors.js"
import { decodeHfArchitecture } from "../adapters/local/hf/hf-architecture.js"
import { loraBaseProblem, mergedHfTensors, peftAdapter } from "../adapters/local/hf/hf-export.js"
import { decodeState } from "../adapters/local/state-codec.js"
import { BlobStore, InvalidRequestError } from "../ports/index.js"
import { messageOf } from "../ports/thrown-message.js"
import { readCheckpoint } from "../stages/index.js"

/** What `sous export` writes. */
export type ExportFormat = "hf" | "peft"

/** The export's inputs: a run directory or one checkpoint's directory, where to write, and how. */
export interface ExportOptions {
  /** A run directory (its `final` checkpoint) or a checkpoint directory (`<run>/checkpoints/<name>`). */
  readonly source: string
  readonly out: string
  readonly format: ExportFormat
}

// The files a Hugging Face model directory keeps its tokenizer and chat template in.
const tokenizerFiles = [
  "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
  "vocab.json", "merges.txt", "added_tokens.json", "chat_template.jinja", "chat_template.json"
]

const refuse = (message: string, cause?: unknown) => new InvalidRequestError({ operation: "export", message, cause })

/** The checkpoint store and checkpoint name `source` means. */
const locateCheckpoint = (source: string): { readonly store: string; readonly name: string } | string => {
  if (existsSync(join(source, "manifest.json"))) return { store: dirname(resolve(source)), name: basename(resolve(source)) }
  const recipeFile = join(source, "recipe.json")
  if (!existsSync(recipeFile)) return `${source} is neither a run directory (no recipe.json) nor a checkpoint directory (no manifest.json)`
  let uri: unknown
  try {
    uri = (JSON.parse(readFileSync(recipeFile, "utf8")) as { checkpoint?: { uri?: unknown } }).checkpoint?.uri
  } catch (error) {
    return `cannot read ${recipeFile}: ${messageOf(error)}`
  }
  if (uri === undefined) return { store: join(source, "checkpoints"), name: "final" }
  if (typeof uri === "string" && !/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) return { store: uri, name: "final" }
  if (typeof uri === "string" && uri.startsWith("file://")) return { store: fileURLToPath(uri), name: "final" }
  return `${recipeFile}: checkpoint.uri ${JSON.stringify(uri)} is not a local directory; export reads local checkpoints only`
}

const writeJson = (path: string, value: unknown) => writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`)

/**
 * Writes the committed checkpoint of a `model.hf` run as a Hugging Face model directory
 * (`hf`: the weights, adapters merged, in the source checkpoint's dtype, with its config,
 * generation config and tokenizer files) or a PEFT adapter (`peft`: LoRA runs only). The
 * checkpoint's blobs are checked against its manifest first. Refuses an `out` that holds
 * files, and a checkpoint of a model that is not a Hugging Face one, naming the path.
 * Answers the files written.
 */
export const exportRun = (options: ExportOptions) =>
  Effect.gen(function*() {
    const located = locateCheckpoint(options.source)
    if (typeof located === "string") return yield* refuse(located)
    if (existsSync(options.out) && readdirSync(options.out).length > 0) {
      return yield* refuse(`${options.out} is not empty; choose a new --out directory`)
    }
    const checkpoint = yield* Effect.gen(function*() {
      return yield* readCheckpoint(yield* BlobStore, located.name)
    }).pipe(Effect.provide(fsBlobStoreLayer(located.store)))
    const held = checkpoint.state
    if (held._tag !== "Bytes") {
      return yield* refuse(`checkpoint ${located.name} of ${located.store} is held by a remote backend; export reads local states`)
    }
    const state = yield* Effect.try({
      try: () => decodeState(held.bytes),
      catch: (error) => refuse(`checkpoint ${located.name} of ${located.store}: ${messageOf(error)}`, error)
    })
    const architecture = state.header.architecture
    if (architecture.kind !== "hf") {
      return yield* refuse(`checkpoint ${located.name} of ${located.store} is of a ${architecture.kind} model; export writes Hugging Face models (recipes with model.hf)`)
    }
    const directory = yield* readHfModelDirectory(architecture.dir).pipe(Effect.mapError((error) => refuse(error.message, error)))
    const arch = yield* decodeHfArchitecture(directory.config, join(architecture.dir, "config.json")).pipe(
      Effect.mapError((error) => refuse(error.message, error))
    )
    const baseProblem = loraBaseProblem(arch, directory.tensors, state)
    if (baseProblem !== undefined) return yield* refuse(`checkpoint ${located.name} of ${located.store}: ${baseProblem} (${architecture.dir})`)
    const adapter = options.format === "peft" ? peftAdapter(arch, state, architecture.dir) : undefined
    if (typeof adapter === "string") return yield* refuse(`checkpoint ${located.name} of ${located.store}: ${adapter}`)
    return yield* Effect.try({
      try: () => {
        mkdirSync(options.out, { recursive: true })
        if (adapter !== undefined) {
          writeFileSync(join(options.out, "adapter_model.safetensors"), encodeSafetensors(adapter.tensors, { format: "pt" }))
          writeJson(join(options.out, "adapter_config.json"), adapter.config)
          return ["adapter_model.safetensors", "adapter_config.json"]
        }
        const tensors = mergedHfTensors(arch, directory.tensors, state, directory.dtype)
        writeFileSync(join(options.out, "model.safetensors"), encodeSafetensors(tensors, { format: "pt" }))
        const copied = ["config.json", "generation_config.json", ...tokenizerFiles].filter((file) => existsSync(join(architecture.dir, file)))
        for (const file of copied) copyFileSync(join(architecture.dir, file), join(options.out, file))
        return ["model.safetensors", ...copied]
      },
      catch: (error) => refuse(`checkpoint ${located.name} of ${located.store}: ${messageOf(error)}`, error)
    })
  })
