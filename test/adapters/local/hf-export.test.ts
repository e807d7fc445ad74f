import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { readHfModelDirectory } from "../../../src/adapters/hf-model/model-directory.js"
import { encodeSafetensors } from "../../../src/adapters/hf-model/safetensors.js"
import { decodeHfArchitecture, loadHfWeights } from "../../../src/adapters/local/hf/index.js"
import { mergedHfTensors, peftAdapter } from "../../../src/adapters/local/hf/hf-export.js"
import { disposeParameters } from "../../../src/adapters/local/parameters.js"
import { decodeState, encodeState } from "../../../src/adapters/local/state-codec.js"
import { initTfRuntime } from "../../../src/adapters/local/tf-runtime.js"

// The exporter's round trip: a full state holding a fixture's weights (what a run of a
// model.hf recipe saves, Linear weights [in, out] in float32) written back as a Hugging Face
// checkpoint gives the fixture's tensors bit for bit, in the fixture's dtype.
const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), "../../fixtures/hf")
const runtime = initTfRuntime("wasm")

/** A full local state of the fixture's weights, as the local backend lays one out, decoded. */
const fullState = (name: string) =>
  Effect.gen(function*() {
    yield* runtime
    const dir = join(fixtures, name)
    const directory = yield* readHfModelDirectory(dir)
    const arch = yield* decodeHfArchitecture(directory.config, dir)
    const weights = yield* loadHfWeights(arch, directory.tensors, dir)
    try {
      const bytes = encodeState({
        name: "final",
        kind: "state",
        architecture: { kind: "hf", dir, vocabSize: 96, contextLength: 16 },
        step: 0,
        tensors: weights.names.map((n) => ({ name: `params/${n}`, tensor: weights.variables.get(n)! as tf.Tensor }))
      })
      return { directory, arch, state: decodeState(bytes) }
    } finally {
      disposeParameters(weights)
    }
  })

const bytesOf = (values: Float32Array) => new Uint8Array(values.buffer, values.byteOffset, values.byteLength)

describe("exporting Hugging Face checkpoints", () => {
  it.effect("writes a fixture's weights back byte for byte: the file itself for a single-file float32 checkpoint", () =>
    Effect.gen(function*() {
      const { arch, directory, state } = yield* fullState("llama")
      const file = encodeSafetensors(mergedHfTensors(arch, directory.tensors, state, directory.dtype), { format: "pt" })
      const source = readFileSync(join(fixtures, "llama", "model.safetensors"))
      assert.isTrue(Buffer.from(file).equals(source), "the exported model.safetensors differs from the fixture's")
    }))

  it.effect("gives every tensor of every fixture (bfloat16 and sharded, GPT-2's Conv1D) exactly, in its own dtype", () =>
    Effect.gen(function*() {
      for (const name of ["llama-bf16-sharded", "qwen2", "qwen3", "mistral", "gpt2"]) {
        const { arch, directory, state } = yield* fullState(name)
        const exported = mergedHfTensors(arch, directory.tensors, state, directory.dtype)
        for (const [tensorName, tensor] of exported) {
          const source = directory.tensors.get(tensorName) ?? directory.tensors.get(tensorName.replace(/^transformer\./, ""))!
          assert.strictEqual(tensor.dtype, source.dtype, `${name} ${tensorName}`)
          assert.deepStrictEqual(tensor.shape, source.shape, `${name} ${tensorName}`)
          assert.isTrue(Buffer.from(bytesOf(tensor.values)).equals(bytesOf(source.values)), `${name} ${tensorName} differs`)
        }
        // Every tensor the model reads is there; only a tied lm_head (unread) may be left out.
        const left = [...directory.tensors.keys()].filter((n) => !exported.has(n) && !exported.has(`transformer.${n}`))
        assert.isTrue(left.every((n) => n === "lm_head.weight" && arch.tieWordEmbeddings), `${name}: ${left.join(", ")}`)
      }
    }))

  it.effect("refuses PEFT export of full weights", () =>
    Effect.gen(function*() {
      const { arch, state } = yield* fullState("llama")
      assert.match(String(peftAdapter(arch, state, "base")), /full weights, not LoRA adapters: export it with --format hf/)
    }))
})
