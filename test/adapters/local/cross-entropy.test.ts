import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { makeLocalBackend } from "../../../src/adapters/local/local-backend.js"
import { createTrainer, disposeTrainer } from "../../../src/adapters/local/local-trainer.js"
import { saveTrainer } from "../../../src/adapters/local/trainer-state.js"
import { lookupIn } from "../../../src/adapters/local/parameters.js"
import { transformerLogits } from "../../../src/adapters/local/transformer.js"
import { toInts } from "../../../src/ports/index.js"
import { awaitCall, fixedBatch, sequenceDatum, tinyArchitecture, tinyClient } from "./fixtures.js"

const backend = makeLocalBackend({ device: "wasm" })

const logSumExp = (values: ReadonlyArray<number>): number => {
  const max = Math.max(...values)
  return max + Math.log(values.reduce((total, v) => total + Math.exp(v - max), 0))
}

// Logits every position gets: ln_final maps every hidden state to its beta (gamma = 0), beta
// is the first basis vector, so the logits are row 0 of the unembedding, set to these.
const knownLogits = [0.5, -1, 2, 0, 1.5, -0.5, 0.25, 3, -2, 1, 0, 0.75, -1.25, 2.5, 0.1, -0.3]

/** Weights whose logits are `knownLogits` at every position, whatever the input. */
const knownLogitsWeights = (): Promise<Uint8Array> => {
  const trainer = createTrainer(tinyArchitecture, 1)
  const { width, vocabSize } = tinyArchitecture
  const set = (name: string, value: tf.Tensor) => {
    trainer.model.variables.get(name)!.assign(value)
    value.dispose()
  }
  set("ln_final.gamma", tf.zeros([width]))
  set("ln_final.beta", tf.oneHot(tf.tensor1d([0], "int32"), width).reshape([width]).toFloat())
  const unembed = new Float32Array(width * vocabSize)
  unembed.set(knownLogits)
  set("unembed", tf.tensor2d(unembed, [width, vocabSize]))
  return saveTrainer(trainer, "known-logits", "weights").finally(() => disposeTrainer(trainer))
}

describe("cross_entropy on the local backend", () => {
  it.effect("equals Σ w·(logsumexp(z) − z[target]) computed by hand from known logits", () =>
    Effect.gen(function*() {
      const client = yield* tinyClient(yield* backend, 2)
      const bytes = yield* Effect.promise(knownLogitsWeights)
      yield* awaitCall(client.loadState({ _tag: "Bytes", bytes }, { optimizer: false }))
      const data = [sequenceDatum([3, 7, 2, 13], [0.5, 2, 1]), sequenceDatum([1, 8, 0], [1, 0])]
      const output = yield* awaitCall(client.forward(data, "cross_entropy"))

      const lse = logSumExp(knownLogits)
      let expectedLoss = 0
      data.forEach((datum, i) => {
        const targets = datum.loss_fn_inputs["target_tokens"]!.data
        const weights = datum.loss_fn_inputs["weights"]!.data
        const logprobs = output.loss_fn_outputs[i]!["logprobs"]!
        const elementwise = output.loss_fn_outputs[i]!["elementwise_loss"]!
        assert.strictEqual(logprobs.dtype, "float32")
        assert.strictEqual(logprobs.data.length, targets.length)
        targets.forEach((target, t) => {
          const logprob = knownLogits[target]! - lse
          assert.closeTo(logprobs.data[t]!, logprob, 1e-5)
          assert.closeTo(elementwise.data[t]!, -weights[t]! * logprob, 1e-5)
          expectedLoss += -weights[t]! * logprob
        })
      })
      assert.closeTo(output.metrics["loss:sum"]!, expectedLoss, 1e-5 * expectedLoss)
      assert.strictEqual(output.metrics["weights:sum"], 4.5)
      assert.strictEqual(output.loss_fn_output_type, "cross_entropy")
    }))

  it.effect("equals −Σ w·log p from a float64 log-softmax of the model's own logits", () =>
    Effect.gen(function*() {
      const client = yield* tinyClient(yield* backend, 8)
      const weighted = fixedBatch.map((datum, i) =>
        sequenceDatum([...toInts(datum.model_input), datum.loss_fn_inputs["target_tokens"]!.data.at(-1)!],
          datum.loss_fn_inputs["weights"]!.data.map((_, t) => (t + i) % 3 / 2))
      )
      const output = yield* awaitCall(client.forward(weighted, "cross_entropy"))

      // The same weights, one sequence at a time (no padding), logits read back to float64.
      const trainer = createTrainer(tinyArchitecture, 8)
      let expected = 0
      for (const datum of weighted) {
        const inputs = toInts(datum.model_input)
        const logits = tf.tidy(() =>
          transformerLogits(tinyArchitecture, lookupIn(trainer.model), tf.tensor2d([...inputs], [1, inputs.length], "int32")).arraySync()[0]!
        )
        logits.forEach((row, t) => {
          const target = datum.loss_fn_inputs["target_tokens"]!.data[t]!
          expected += -datum.loss_fn_inputs["weights"]!.data[t]! * (row[target]! - logSumExp(row))
        })
      }
      disposeTrainer(trainer)
      assert.isAbove(expected, 1)
      assert.closeTo(output.metrics["loss:sum"]!, expected, 1e-5 * expected)
    }))

  it.effect("is zero with zero weights and scales linearly with the weights", () =>
    Effect.gen(function*() {
      const client = yield* tinyClient(yield* backend, 9)
      const scaled = (factor: number) =>
        fixedBatch.map((datum) => ({
          ...datum,
          loss_fn_inputs: {
            ...datum.loss_fn_inputs,
            weights: { ...datum.loss_fn_inputs["weights"]!, data: datum.loss_fn_inputs["weights"]!.data.map((w) => w * factor) }
          }
        }))
      const loss = (factor: number) =>
        Effect.map(awaitCall(client.forward(scaled(factor), "cross_entropy")), (out) => out.metrics["loss:sum"]!)
      const one = yield* loss(1)
      assert.strictEqual(yield* loss(0), 0)
      assert.closeTo(yield* loss(3), 3 * one, 1e-6 * one)
      assert.closeTo(yield* loss(0.5), 0.5 * one, 1e-6 * one)
    }))
})
