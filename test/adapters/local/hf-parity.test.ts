import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { readdirSync, readFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { readHfModelDirectory } from "../../../src/adapters/hf-model/model-directory.js"
import {
  decodeHfArchitecture,
  hfGreedy,
  hfLogits,
  hfLoss,
  hfStep,
  loadHfWeights,
  ropeInverseFrequencies
} from "../../../src/adapters/local/hf/index.js"
import { disposeParameters, lookupIn } from "../../../src/adapters/local/parameters.js"
import { initTfRuntime } from "../../../src/adapters/local/tf-runtime.js"
import type { LayerCache } from "../../../src/adapters/local/transformer.js"

// Parity with transformers on the wasm backend, against the fixtures that
// scripts/hf-fixtures/make-fixtures.py wrote with transformers (float32 forward).
const runtime = initTfRuntime("wasm")
const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), "../../fixtures/hf")
const fixtureNames = ["gpt2", "llama", "llama-bf16-sharded", "mistral", "qwen2", "qwen3"]

/** What transformers computed for a fixture (see the fixture README). */
interface Reference {
  readonly architecture: string
  readonly input_ids: Array<Array<number>>
  readonly logits: Array<Array<Array<number>>>
  readonly loss: number
  readonly greedy: { readonly prompt: Array<number>; readonly tokens: Array<number> }
}

const loadFixture = (name: string) =>
  Effect.gen(function*() {
    yield* runtime
    const dir = join(fixtures, name)
    const model = yield* readHfModelDirectory(dir)
    const arch = yield* decodeHfArchitecture(model.config, join(dir, "config.json"))
    const params = yield* loadHfWeights(arch, model.tensors, dir)
    const reference = JSON.parse(readFileSync(join(dir, "reference.json"), "utf8")) as Reference
    return { model, arch, params, weight: lookupIn(params), reference }
  })

/**
 * The bar for logits: the largest absolute difference over every logit of the
 * fixture, relative to the largest reference logit, max_i |ours_i − theirs_i| / max(max_i |theirs_i|, 1e-3).
 */
const relativeError = (ours: ArrayLike<number>, theirs: ReadonlyArray<number>): number => {
  let worst = 0
  let scale = 1e-3
  theirs.forEach((value, i) => {
    worst = Math.max(worst, Math.abs(ours[i]! - value))
    scale = Math.max(scale, Math.abs(value))
  })
  return worst / scale
}

describe("Hugging Face models against transformers", () => {
  it("tests every fixture there is", () => {
    const present = readdirSync(fixtures, { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name)
    assert.deepStrictEqual(present.sort(), fixtureNames)
  })

  for (const name of fixtureNames) {
    it.effect(`${name}: logits within 1e-4 relative, loss within 1e-5, greedy tokens identical`, () =>
      Effect.gen(function*() {
        const { arch, params, weight, reference } = yield* loadFixture(name)
        try {
          assert.strictEqual(arch.name, reference.architecture)
          const ids = reference.input_ids
          const [logits, loss] = tf.tidy(() => {
            const tokens = tf.tensor2d(ids, [ids.length, ids[0]!.length], "int32")
            return [hfLogits(arch, weight, tokens).dataSync(), hfLoss(arch, weight, tokens).dataSync()[0]!] as const
          })
          const expected = reference.logits.flat(2)
          assert.strictEqual(logits.length, expected.length)
          assert.isBelow(relativeError(logits, expected), 1e-4)
          assert.isBelow(Math.abs(loss - reference.loss), 1e-5)
          const { prompt, tokens } = reference.greedy
          assert.deepStrictEqual(hfGreedy(arch, weight, prompt, tokens.length), tokens)
        } finally {
          disposeParameters(params)
        }
      }))
  }

  for (const name of ["llama-bf16-sharded", "qwen3", "gpt2"]) {
    it.effect(`${name}: a KV-cached step gives the logits of the whole sequence`, () =>
      Effect.gen(function*() {
        const { arch, params, weight, reference } = yield* loadFixture(name)
        const ids = reference.input_ids
        const [whole, stepped] = tf.tidy(() => {
          const full = hfLogits(arch, weight, tf.tensor2d(ids, [2, 8], "int32"))
          // Chunks of 3, 1, 2 and 2 tokens: the first fills the cache, the others read and extend it.
          let cache: ReadonlyArray<LayerCache> | undefined
          const lasts: Array<tf.Tensor> = []
          for (const [from, to] of [[0, 3], [3, 4], [4, 6], [6, 8]] as const) {
            const chunk = tf.tensor2d(ids.map((row) => row.slice(from, to)), [2, to - from], "int32")
            const step = hfStep(arch, weight, chunk, cache)
            cache = step.cache
            lasts.push(step.logits)
          }
          const fullLasts = [2, 3, 5, 7].map((i) => full.slice([0, i, 0], [2, 1, arch.vocabSize]).reshape([2, arch.vocabSize]))
          return [tf.stack(fullLasts).dataSync(), tf.stack(lasts).dataSync()]
        })
        assert.isBelow(relativeError(stepped, Array.from(whole)), 1e-5)
        disposeParameters(params)
      }))
  }

  it.effect("leaves no tensor behind: forward, loss and greedy decoding keep tf.memory flat", () =>
    Effect.gen(function*() {
      yield* runtime
      const before = tf.memory().numTensors
      const { arch, params, weight, reference } = yield* loadFixture("qwen2")
      const loaded = tf.memory().numTensors
      assert.strictEqual(loaded - before, params.names.length)
      const run = () => {
        tf.tidy(() => {
          const tokens = tf.tensor2d(reference.input_ids, [2, 8], "int32")
          hfLogits(arch, weight, tokens).dataSync()
          hfLoss(arch, weight, tokens).dataSync()
        })
        hfGreedy(arch, weight, reference.greedy.prompt, 4)
      }
      run()
      run()
      assert.strictEqual(tf.memory().numTensors, loaded)
      disposeParameters(params)
      assert.strictEqual(tf.memory().numTensors, before)
    }))

  it.effect("loads torch Linear weights transposed to [in, out] and GPT-2 Conv1D weights as stored", () =>
    Effect.gen(function*() {
      const llama = yield* loadFixture("llama")
      const file = llama.model.tensors.get("model.layers.0.self_attn.k_proj.weight")!
      const loaded = llama.params.variables.get("model.layers.0.self_attn.k_proj.weight")!
      // k_proj maps 32 inputs to 2 kv heads × 8: stored [16, 32], loaded [32, 16].
      assert.deepStrictEqual(file.shape, [16, 32])
      assert.deepStrictEqual(loaded.shape, [32, 16])
      const values = loaded.dataSync()
      for (const [o, i] of [[0, 0], [3, 17], [15, 31]] as const) assert.strictEqual(values[i * 16 + o], file.values[o * 32 + i])
      disposeParameters(llama.params)
      const gpt2 = yield* loadFixture("gpt2")
      const cAttn = gpt2.params.variables.get("transformer.h.0.attn.c_attn.weight")!
      assert.deepStrictEqual(cAttn.shape, [32, 96])
      assert.deepStrictEqual(cAttn.dataSync(), gpt2.model.tensors.get("transformer.h.0.attn.c_attn.weight")!.values)
      disposeParameters(gpt2.params)
    }))

  it.effect("refuses weights that do not fit the architecture, naming each tensor", () =>
    Effect.gen(function*() {
      const { arch, params, model } = yield* loadFixture("qwen2")
      disposeParameters(params)
      const tensors = new Map(model.tensors)
      const q = tensors.get("model.layers.1.self_attn.q_proj.weight")!
      tensors.delete("model.layers.0.self_attn.q_proj.bias")
      tensors.set("model.layers.1.self_attn.q_proj.weight", { ...q, shape: [16, 64] })
      tensors.set("model.layers.0.mlp.extra.weight", q)
      const error = yield* Effect.flip(loadHfWeights(arch, tensors, "m"))
      assert.strictEqual(
        error.message,
        "m: tensor model.layers.1.self_attn.q_proj.weight has shape [16, 64], expected [32, 32]; " +
          "unexpected tensor model.layers.0.mlp.extra.weight (Qwen2ForCausalLM does not read it); " +
          "tensor model.layers.0.self_attn.q_proj.bias is missing"
      )
    }))

  it.effect("reads GPT-2 checkpoints saved without the transformer. prefix (as the Hub's gpt2)", () =>
    Effect.gen(function*() {
      const { arch, params, model, reference } = yield* loadFixture("gpt2")
      disposeParameters(params)
      const bare = new Map([...model.tensors].map(([name, tensor]) => [name.replace(/^transformer\./, ""), tensor]))
      const renamed = yield* loadHfWeights(arch, bare, "m")
      assert.deepStrictEqual(hfGreedy(arch, lookupIn(renamed), reference.greedy.prompt, 8), reference.greedy.tokens)
      disposeParameters(renamed)
    }))

  it.effect("refuses sequences past Mistral's sliding window and past GPT-2's positions", () =>
    Effect.gen(function*() {
      const mistral = yield* loadFixture("mistral")
      const windowed = { ...mistral.arch, slidingWindow: 6 }
      assert.throws(
        () => tf.tidy(() => hfLogits(windowed, mistral.weight, tf.zeros([1, 7], "int32"))),
        "Sequence length 7 exceeds sliding_window 6: sliding-window attention is not implemented"
      )
      disposeParameters(mistral.params)
      const gpt2 = yield* loadFixture("gpt2")
      assert.throws(() => hfGreedy(gpt2.arch, gpt2.weight, [1, 2, 3], 63), "Sequence length 65 exceeds n_positions 64")
      disposeParameters(gpt2.params)
    }))

  it("computes Llama 3.1's scaled rotary frequencies band by band", () => {
    const arch = {
      family: "llama",
      name: "LlamaForCausalLM",
      vocabSize: 8,
      hiddenSize: 32,
      intermediateSize: 8,
      layers: 1,
      heads: 4,
      kvHeads: 4,
      headDim: 8,
      rmsNormEps: 1e-6,
      ropeTheta: 10000,
      ropeScaling: { kind: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 16 },
      qkvBias: false,
      outputBias: false,
      qkNorm: false,
      slidingWindow: undefined,
      tieWordEmbeddings: false
    } as const
    // Unscaled: 1, 0.1, 0.01, 0.001, wavelengths 2π·(1, 10, 100, 1000). Wavelengths over
    // 16 / 1 are slowed 8 times; 2π lies between 16 / 4 and 16 / 1, so it is interpolated
    // with weight s = (16 / 2π − 1) / (4 − 1).
    const s = (16 / (2 * Math.PI) - 1) / 3
    const expected = [(1 - s) / 8 + s, 0.1 / 8, 0.01 / 8, 0.001 / 8]
    const actual = ropeInverseFrequencies(arch)
    expected.forEach((value, i) => assert.closeTo(actual[i]!, value, value * 1e-6))
    const plain = ropeInverseFrequencies({ ...arch, ropeScaling: { kind: "none" } })
    ;[1, 0.1, 0.01, 0.001].forEach((value, i) => assert.closeTo(plain[i]!, value, value * 1e-6))
  })
})
