import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { makeLocalBackend } from "../../../src/adapters/local/local-backend.js"
import { initTfRuntime } from "../../../src/adapters/local/tf-runtime.js"
import { architectureProblem } from "../../../src/adapters/local/architecture-problem.js"
import { disposeModel, initModel, type ModelParams, parameterCount } from "../../../src/adapters/local/model.js"
import { lookupIn } from "../../../src/adapters/local/parameters.js"
import { type LayerCache, transformerLogits, transformerStep } from "../../../src/adapters/local/transformer.js"
import { adamParams } from "../../../src/ports/index.js"
import { awaitCall, fixedBatch, tinyArchitecture, tinyClient, weightBytes } from "./fixtures.js"

// This file runs on the plain JavaScript backend.
const cpu = initTfRuntime("cpu")

const values = (params: ModelParams): Array<Float32Array> =>
  params.names.map((name) => params.variables.get(name)!.dataSync() as Float32Array)

describe("transformer", () => {
  it.effect("initialises deterministically from the seed", () =>
    Effect.gen(function*() {
      yield* cpu
      const a = initModel(tinyArchitecture, 1)
      const b = initModel(tinyArchitecture, 1)
      const c = initModel(tinyArchitecture, 2)
      assert.deepStrictEqual(values(a), values(b))
      assert.notDeepEqual(values(a), values(c))
      const total = values(a).reduce((sum, v) => sum + v.length, 0)
      assert.strictEqual(total, parameterCount(tinyArchitecture))
      // vocab 16, ctx 8, width 16, 2 layers: embeddings + 2 blocks + final norm + unembedding.
      assert.strictEqual(total, 16 * 16 + 8 * 16 + 2 * (4 * 16 + 4 * 256 + 3 * 16 + 2 * 16 * 64 + 64 + 16) + 32 + 256)
      for (const params of [a, b, c]) disposeModel(params)
    }))

  it.effect("a KV-cached step gives the logits of the whole sequence, in chunks of one or several tokens", () =>
    Effect.gen(function*() {
      yield* cpu
      const params = initModel(tinyArchitecture, 5)
      const weight = lookupIn(params)
      const tokens = [[3, 1, 4, 1, 5, 9, 2, 6], [2, 7, 1, 8, 2, 8, 1, 8]]
      const [full, stepped] = tf.tidy(() => {
        const whole = transformerLogits(tinyArchitecture, weight, tf.tensor2d(tokens, [2, 8], "int32"))
        // Chunks of 3, 1, 2 and 2 tokens: the first fills the cache, the others read and extend it.
        let cache: ReadonlyArray<LayerCache> | undefined
        const lasts: Array<tf.Tensor> = []
        for (const [from, to] of [[0, 3], [3, 4], [4, 6], [6, 8]] as const) {
          const step = transformerStep(tinyArchitecture, weight, tf.tensor2d(tokens.map((row) => row.slice(from, to)), [2, to - from], "int32"), cache)
          cache = step.cache
          lasts.push(step.logits)
        }
        const wholeLasts = [2, 3, 5, 7].map((i) => whole.slice([0, i, 0], [2, 1, 16]).reshape([2, 16]))
        return [tf.stack(wholeLasts).dataSync(), tf.stack(lasts).dataSync()]
      })
      const worst = Math.max(...Array.from(full, (value, i) => Math.abs(value - stepped[i]!)))
      assert.isBelow(worst, 1e-5)
      disposeModel(params)
    }))

  it.effect("gives logits of shape [batch, length, vocab] and refuses inputs longer than the context", () =>
    Effect.gen(function*() {
      yield* cpu
      const params = initModel(tinyArchitecture, 3)
      const shape = tf.tidy(() => transformerLogits(tinyArchitecture, lookupIn(params), tf.zeros([2, 5], "int32")).shape)
      assert.deepStrictEqual(shape, [2, 5, 16])
      assert.throws(() => tf.tidy(() => transformerLogits(tinyArchitecture, lookupIn(params), tf.zeros([1, 9], "int32"))), /context length 8/)
      assert.throws(() => initModel({ ...tinyArchitecture, heads: 3 }, 1), /Invalid transformer architecture: width 16 is not divisible/)
      assert.strictEqual(architectureProblem({ ...tinyArchitecture, heads: 3 }), "width 16 is not divisible by heads 3")
      disposeModel(params)
    }))

  it("refuses every dimension of every architecture that is not a positive integer", () => {
    const mlp = { kind: "mlp", inputShape: [4, 4], hidden: [8], classes: 3 } as const
    const cnn = { kind: "cnn", inputShape: [8, 8, 1], filters: [4], kernelSize: 3, hidden: [8], classes: 3 } as const
    const cases = [
      [{ ...tinyArchitecture, vocabSize: 0 }, "vocabSize must be a positive integer, got 0"],
      [{ ...tinyArchitecture, contextLength: -8 }, "contextLength must be a positive integer, got -8"],
      [{ ...tinyArchitecture, width: 16.5 }, "width must be a positive integer, got 16.5"],
      [{ ...tinyArchitecture, layers: Number.NaN }, "layers must be a positive integer, got NaN"],
      [{ ...tinyArchitecture, heads: 0 }, "heads must be a positive integer, got 0"],
      [{ ...mlp, inputShape: [4, 0] }, "inputShape[1] must be a positive integer, got 0"],
      [{ ...mlp, hidden: [-8] }, "hidden[0] must be a positive integer, got -8"],
      [{ ...mlp, classes: 2.5 }, "classes must be a positive integer, got 2.5"],
      [{ ...cnn, inputShape: [8, 8, 0] }, "inputShape[2] must be a positive integer, got 0"],
      [{ ...cnn, filters: [4, 0] }, "filters[1] must be a positive integer, got 0"],
      [{ ...cnn, kernelSize: 0 }, "kernelSize must be a positive integer, got 0"],
      [{ ...cnn, hidden: [1.5] }, "hidden[0] must be a positive integer, got 1.5"],
      [{ ...cnn, classes: 0 }, "classes must be a positive integer, got 0"],
      [{ ...cnn, filters: [4, 4, 4, 4] }, "an input of 8x8 is too small for 4 2x2 poolings"]
    ] as const
    for (const [arch, message] of cases) assert.strictEqual(architectureProblem(arch), message)
    for (const arch of [tinyArchitecture, mlp, cnn]) assert.isUndefined(architectureProblem(arch))
  })

  it.effect("trains deterministically on the cpu backend too", () =>
    Effect.gen(function*() {
      const backend = yield* makeLocalBackend({ device: "cpu" })
      const train = Effect.fnUntraced(function*() {
        const client = yield* tinyClient(backend, 31)
        let loss = 0
        for (let step = 0; step < 3; step++) {
          loss = (yield* awaitCall(client.forwardBackward(fixedBatch, "cross_entropy"))).metrics["loss:sum"]!
          yield* awaitCall(client.optimStep(adamParams({ learning_rate: 1e-2 })))
        }
        return { loss, weights: yield* weightBytes(client) }
      })
      const first = yield* train()
      const second = yield* train()
      assert.deepStrictEqual(second.weights, first.weights)
      assert.strictEqual(second.loss, first.loss)
      assert.strictEqual((yield* backend.capabilities).device, "cpu (JavaScript)")
    }))
})
