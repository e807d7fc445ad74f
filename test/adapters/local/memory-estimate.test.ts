import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { dirname, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { makeLocalBackend } from "../../../src/adapters/local/local-backend.js"
import { createTrainer, disposeTrainer } from "../../../src/adapters/local/local-trainer.js"
import { estimateSamplingMemory, estimateTrainingMemory } from "../../../src/adapters/local/memory-estimate.js"
import { parameterCount } from "../../../src/adapters/local/model.js"
import type { ModelArchitecture } from "../../../src/ports/index.js"

const backend = makeLocalBackend({ device: "wasm" })

// Odd sizes, so a term of the closed form that is off by a factor cannot hide behind another.
const transformer: ModelArchitecture = { kind: "transformer", vocabSize: 19, contextLength: 7, width: 12, layers: 3, heads: 2 }
const mlp: ModelArchitecture = { kind: "mlp", inputShape: [5, 3], hidden: [11, 6], classes: 4 }
// The tiny Llama fixture (grouped-query attention, untied lm_head), read from its config.json.
const hf: ModelArchitecture = {
  kind: "hf",
  dir: resolve(dirname(fileURLToPath(import.meta.url)), "../../fixtures/hf/llama"),
  vocabSize: 96,
  contextLength: 16
}

/**
 * The bytes a trainer really allocates: its tensors, as TensorFlow.js counts them, and the
 * arrays of its gradients and AdamW moments.
 */
const builtBytes = (arch: ModelArchitecture, lora?: Parameters<typeof createTrainer>[2]) => {
  const before = tf.memory().numBytes
  const trainer = createTrainer(arch, 3, lora)
  const arrays = [...trainer.gradients.values(), ...trainer.optimizer.m.values(), ...trainer.optimizer.v.values()]
  const bytes = tf.memory().numBytes - before + arrays.reduce((total, array) => total + array.byteLength, 0)
  disposeTrainer(trainer)
  return bytes
}

describe("the local backend's memory estimate", () => {
  it.effect("counts the parameters a built model has, and the bytes its trainer allocates", () =>
    Effect.gen(function*() {
      yield* backend
      for (const arch of [transformer, mlp, hf]) {
        const estimate = estimateTrainingMemory(arch)
        assert.strictEqual(estimate.parameters, parameterCount(arch), arch.kind)
        assert.strictEqual(estimate.bytes, builtBytes(arch), arch.kind)
        assert.strictEqual(estimateSamplingMemory(arch).bytes, 4 * parameterCount(arch))
      }
    }))

  it.effect("counts LoRA adapters and their optimizer state over a frozen base", () =>
    Effect.gen(function*() {
      yield* backend
      for (const targets of [{ trainAttn: true, trainMlp: true, trainUnembed: true }, { trainAttn: false, trainMlp: true, trainUnembed: false }]) {
        const estimate = estimateTrainingMemory(transformer, { rank: 3, ...targets })
        const built = builtBytes(transformer, { rank: 3, alpha: 32, ...targets })
        assert.strictEqual(estimate.bytes, built, JSON.stringify(targets))
        assert.isBelow(estimate.trainedParameters, estimate.parameters)
      }
      const modules = ["q_proj", "k_proj", "down_proj", "lm_head"]
      const estimate = estimateTrainingMemory(hf, { rank: 3, targets: modules })
      const flags = { trainAttn: true, trainMlp: true, trainUnembed: true }
      assert.strictEqual(estimate.bytes, builtBytes(hf, { rank: 3, alpha: 32, ...flags, modules }))
      assert.isBelow(estimate.trainedParameters, estimate.parameters)
    }))

  it("works out a huge architecture at once, without building anything", () => {
    const huge = estimateTrainingMemory({ kind: "transformer", vocabSize: 256, contextLength: 64, width: 65536, layers: 1e9, heads: 4 })
    assert.isAbove(huge.bytes, 1e20)
    assert.isTrue(Number.isFinite(huge.bytes))
  })
})
