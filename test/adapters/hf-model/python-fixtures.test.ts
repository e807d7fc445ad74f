import { readFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { readHfModelDirectory } from "../../../src/adapters/hf-model/model-directory.js"
import { decodeSafetensors, encodeSafetensors } from "../../../src/adapters/hf-model/safetensors.js"

// Files written by Python (safetensors and transformers), from scripts/hf-fixtures: what this
// codec reads must be what they wrote, and what it writes back the bytes they wrote.
const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), "../../fixtures")

interface MixedTensor {
  readonly name: string
  readonly dtype: string
  readonly shape: ReadonlyArray<number>
  readonly values: ReadonlyArray<number>
}

describe("safetensors written by Python", () => {
  it.effect("decodes mixed.safetensors to the values Python read, and writes it back byte for byte", () =>
    Effect.gen(function*() {
      const path = join(fixtures, "safetensors", "mixed.safetensors")
      const bytes = readFileSync(path)
      const expected = JSON.parse(readFileSync(join(fixtures, "safetensors", "mixed.json"), "utf8")) as {
        readonly metadata: Record<string, string>
        readonly tensors: ReadonlyArray<MixedTensor>
      }
      const decoded = yield* decodeSafetensors(bytes, path)
      assert.deepStrictEqual(decoded.metadata, expected.metadata)
      assert.deepStrictEqual([...decoded.tensors.keys()].sort(), expected.tensors.map((tensor) => tensor.name).sort())
      assert.deepStrictEqual(new Set(expected.tensors.map((tensor) => tensor.dtype)), new Set(["F32", "F16", "BF16"]))
      for (const { dtype, name, shape, values } of expected.tensors) {
        const tensor = decoded.tensors.get(name)!
        assert.strictEqual(tensor.dtype, dtype, name)
        assert.deepStrictEqual(tensor.shape, shape, name)
        // Object.is: exact, and -0 is not 0.
        assert.deepStrictEqual([...tensor.values].map((value, index) => Object.is(value, values[index])), values.map(() => true), name)
      }
      assert.deepStrictEqual(encodeSafetensors(decoded.tensors, decoded.metadata), new Uint8Array(bytes))
    }))
})

const models = ["llama", "llama-bf16-sharded", "qwen2", "qwen3", "mistral", "gpt2"]

describe("Hugging Face model directories written by transformers", () => {
  for (const name of models) {
    it.effect(`reads ${name} and writes each of its weights files back byte for byte`, () =>
      Effect.gen(function*() {
        const dir = join(fixtures, "hf", name)
        const model = yield* readHfModelDirectory(dir)
        const config = model.config as { readonly architectures: ReadonlyArray<string>; readonly vocab_size: number }
        const reference = JSON.parse(readFileSync(join(dir, "reference.json"), "utf8")) as { readonly architecture: string }
        assert.strictEqual(config.architectures[0], reference.architecture)
        assert.isObject(model.generationConfig)
        const sharded = name.endsWith("-sharded")
        assert.strictEqual(model.dtype, sharded ? "BF16" : "F32")
        assert.isTrue(sharded ? model.files.length >= 2 : model.files.length === 1)
        // The token embedding: one row per token of the vocabulary.
        const embedding = model.tensors.get(name === "gpt2" ? "transformer.wte.weight" : "model.embed_tokens.weight")
        assert.strictEqual(embedding?.shape[0], config.vocab_size)
        let tensorCount = 0
        for (const file of model.files) {
          const written = encodeSafetensors(new Map(file.tensorNames.map((tensor) => [tensor, model.tensors.get(tensor)!])), file.metadata)
          assert.deepStrictEqual(written, new Uint8Array(readFileSync(join(dir, file.name))), file.name)
          tensorCount += file.tensorNames.length
        }
        assert.strictEqual(tensorCount, model.tensors.size)
      }))
  }
})
