import { createHash } from "node:crypto"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { type HfModelDirectoryError, readHfModelDirectory } from "../../../src/adapters/hf-model/model-directory.js"
import { encodeSafetensors, type SafeTensor, type SafetensorsError } from "../../../src/adapters/hf-model/safetensors.js"
import { tempDirectory } from "../../support/temp-directory.js"

const tensor = (dtype: SafeTensor["dtype"], shape: ReadonlyArray<number>, values: ReadonlyArray<number>): SafeTensor => ({
  dtype,
  shape,
  values: new Float32Array(values)
})

const weights = {
  "model.embed_tokens.weight": tensor("BF16", [3, 2], [1, 2, 3, 4, 5, 6]),
  "model.norm.weight": tensor("BF16", [2], [1, 1]),
  "lm_head.weight": tensor("BF16", [3, 2], [0.5, -0.5, 0.25, -0.25, 2, -2])
}
const config = { architectures: ["LlamaForCausalLM"], hidden_size: 2 }
const pt = { format: "pt" }

type Shards = Record<string, ReadonlyArray<keyof typeof weights>>

// A model directory with config.json and, when `shards` is given, the shard files (holding
// the tensors listed) and an index that maps tensors as `weightMap` says, else each tensor to
// its shard.
const modelDir = (files: {
  readonly single?: boolean
  readonly shards?: Shards
  readonly weightMap?: Record<string, string>
  readonly generation?: unknown
}) =>
  Effect.gen(function*() {
    const dir = yield* tempDirectory("hf-model")
    writeFileSync(join(dir, "config.json"), JSON.stringify(config))
    if (files.generation !== undefined) writeFileSync(join(dir, "generation_config.json"), JSON.stringify(files.generation))
    if (files.single === true) writeFileSync(join(dir, "model.safetensors"), encodeSafetensors(new Map(Object.entries(weights)), pt))
    if (files.shards !== undefined) {
      const weightMap: Record<string, string> = {}
      for (const [file, names] of Object.entries(files.shards)) {
        writeFileSync(join(dir, file), encodeSafetensors(new Map(names.map((name) => [name, weights[name]])), pt))
        for (const name of names) weightMap[name] = file
      }
      const index = { metadata: { total_size: 44 }, weight_map: files.weightMap ?? weightMap }
      writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify(index))
    }
    return dir
  })

const twoShards: Shards = {
  "model-00001-of-00002.safetensors": ["model.embed_tokens.weight", "model.norm.weight"],
  "model-00002-of-00002.safetensors": ["lm_head.weight"]
}

const refusal = (dir: string) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(readHfModelDirectory(dir))
    const error = Exit.findErrorOption(exit)
    if (error._tag === "None") return assert.fail("expected the model directory to be refused")
    return error.value as HfModelDirectoryError | SafetensorsError
  })

const assertWeights = (tensors: ReadonlyMap<string, SafeTensor>) => {
  assert.deepStrictEqual([...tensors.keys()].sort(), Object.keys(weights).sort())
  for (const [name, expected] of Object.entries(weights)) assert.deepStrictEqual(tensors.get(name), expected, name)
}

describe("Hugging Face model directory", () => {
  it.effect("reads config, generation config and a single model.safetensors", () =>
    Effect.gen(function*() {
      const dir = yield* modelDir({ single: true, generation: { bos_token_id: 1 } })
      const model = yield* readHfModelDirectory(dir)
      assert.deepStrictEqual(model.config, config)
      assert.deepStrictEqual(model.generationConfig, { bos_token_id: 1 })
      assertWeights(model.tensors)
      assert.strictEqual(model.dtype, "BF16")
      const sha256 = createHash("sha256").update(readFileSync(join(dir, "model.safetensors"))).digest("hex")
      assert.deepStrictEqual(model.files, [
        { name: "model.safetensors", tensorNames: ["lm_head.weight", "model.embed_tokens.weight", "model.norm.weight"], metadata: pt, sha256 }
      ])
    }).pipe(Effect.scoped))

  it.effect("merges the shards an index names, in the order it names them", () =>
    Effect.gen(function*() {
      const model = yield* readHfModelDirectory(yield* modelDir({ shards: twoShards }))
      assert.strictEqual(model.generationConfig, undefined)
      assertWeights(model.tensors)
      assert.deepStrictEqual(
        model.files.map((file) => [file.name, file.tensorNames]),
        Object.entries(twoShards).map(([file, names]) => [file, [...names].sort()])
      )
    }).pipe(Effect.scoped))

  it.effect("names the checkpoint's dtype by the elements each type holds", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirectory("hf-model")
      writeFileSync(join(dir, "config.json"), "{}")
      const mixed = new Map([["big", tensor("F16", [4], [1, 2, 3, 4])], ["small", tensor("F32", [2], [1, 2])]])
      writeFileSync(join(dir, "model.safetensors"), encodeSafetensors(mixed))
      assert.strictEqual((yield* readHfModelDirectory(dir)).dtype, "F16")
    }).pipe(Effect.scoped))

  it.effect("refuses an index that names a missing shard", () =>
    Effect.gen(function*() {
      const first = "model-00001-of-00002.safetensors"
      const weightMap = { "model.embed_tokens.weight": first, "model.norm.weight": first, "lm_head.weight": "model-00003-of-00002.safetensors" }
      const dir = yield* modelDir({ shards: twoShards, weightMap })
      const error = yield* refusal(dir)
      assert.strictEqual(error._tag, "HfModelDirectoryError")
      assert.strictEqual((error as HfModelDirectoryError).path, join(dir, "model-00003-of-00002.safetensors"))
      assert.match(error.message, /model\.safetensors\.index\.json names model-00003-of-00002\.safetensors, which does not exist/)
    }).pipe(Effect.scoped))

  it.effect("refuses a shard that lacks a tensor the index maps to it", () =>
    Effect.gen(function*() {
      const dir = yield* modelDir({
        shards: { "a.safetensors": ["model.embed_tokens.weight"], "b.safetensors": ["lm_head.weight"] },
        weightMap: { "model.embed_tokens.weight": "a.safetensors", "model.norm.weight": "a.safetensors", "lm_head.weight": "b.safetensors" }
      })
      const error = yield* refusal(dir)
      assert.strictEqual((error as HfModelDirectoryError).path, join(dir, "a.safetensors"))
      assert.match(error.message, /a\.safetensors lacks "model\.norm\.weight", which model\.safetensors\.index\.json maps to it/)
    }).pipe(Effect.scoped))

  it.effect("refuses a shard holding a tensor the index sends elsewhere or does not name", () =>
    Effect.gen(function*() {
      // Both files hold lm_head.weight.
      const shards = {
        "a.safetensors": ["model.embed_tokens.weight", "lm_head.weight"],
        "b.safetensors": ["lm_head.weight", "model.norm.weight"]
      } as const
      const mapped = { "model.embed_tokens.weight": "a.safetensors", "model.norm.weight": "b.safetensors" }
      const elsewhere = yield* refusal(yield* modelDir({ shards, weightMap: { ...mapped, "lm_head.weight": "b.safetensors" } }))
      assert.match(elsewhere.message, /a\.safetensors holds tensor "lm_head\.weight", which model\.safetensors\.index\.json maps to b\.safetensors/)
      const unnamed = yield* refusal(yield* modelDir({ shards, weightMap: mapped }))
      assert.match(unnamed.message, /a\.safetensors holds tensor "lm_head\.weight", which model\.safetensors\.index\.json does not name/)
    }).pipe(Effect.scoped))

  it.effect("refuses an index that points outside the directory", () =>
    Effect.gen(function*() {
      const dir = yield* modelDir({ shards: twoShards, weightMap: { "lm_head.weight": "../model.safetensors" } })
      const error = yield* refusal(dir)
      assert.strictEqual((error as HfModelDirectoryError).path, join(dir, "model.safetensors.index.json"))
      assert.match(error.message, /names "\.\.\/model\.safetensors" for tensor "lm_head\.weight", not a file name in the directory/)
    }).pipe(Effect.scoped))

  it.effect("refuses a directory without config.json, without weights, or with a config that is not an object", () =>
    Effect.gen(function*() {
      const empty = yield* tempDirectory("hf-model")
      assert.match((yield* refusal(empty)).message, /holds no config\.json/)
      writeFileSync(join(empty, "config.json"), "{}")
      assert.match((yield* refusal(empty)).message, /holds neither model\.safetensors nor model\.safetensors\.index\.json/)
      writeFileSync(join(empty, "config.json"), "[]")
      const error = yield* refusal(empty)
      assert.strictEqual((error as HfModelDirectoryError).path, join(empty, "config.json"))
      assert.match(error.message, /config\.json does not hold a JSON object/)
    }).pipe(Effect.scoped))

  it.effect("passes on a damaged weights file's error, naming the file", () =>
    Effect.gen(function*() {
      const dir = yield* modelDir({ single: true })
      writeFileSync(join(dir, "model.safetensors"), new Uint8Array([255, 0, 0, 0, 0, 0, 0, 0, 123, 125]))
      const error = yield* refusal(dir)
      assert.strictEqual(error._tag, "SafetensorsError")
      assert.strictEqual((error as SafetensorsError).source, join(dir, "model.safetensors"))
    }).pipe(Effect.scoped))
})
