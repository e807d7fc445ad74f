import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { batchLoss } from "../../../src/adapters/local/batch-loss.js"
import { lossRequest } from "../../../src/adapters/local/datum-batch.js"
import {
  createTrainer,
  disposeTrainer,
  forwardBackwardPass,
  forwardPass,
  trainerWeights
} from "../../../src/adapters/local/local-trainer.js"
import { initTfRuntime } from "../../../src/adapters/local/tf-runtime.js"
import { type Datum, float32 } from "../../../src/ports/index.js"
import { dpoLoss } from "../../../src/stages/preference/dpo-loss.js"
import { sequenceDatum, tinyArchitecture } from "./fixtures.js"

const runtime = initTfRuntime("wasm")
const beta = 0.7

// Two (chosen, rejected) pairs; weights mark the response tokens (the last ones).
const pairs: ReadonlyArray<Datum> = [
  sequenceDatum([1, 2, 3, 4, 5, 6], [0, 0, 1, 1, 1]),
  sequenceDatum([1, 2, 3, 9, 9, 9], [0, 0, 1, 1, 1]),
  sequenceDatum([7, 3, 5, 1], [0, 1, 1]),
  sequenceDatum([7, 3, 2, 2, 2, 8], [0, 1, 1, 1, 1])
]
const reference = [
  Float32Array.of(-2.5, -2.1, -3.0, -2.2, -2.9),
  Float32Array.of(-2.4, -2.6, -1.9, -2.8, -2.3),
  Float32Array.of(-2.0, -3.1, -2.7),
  Float32Array.of(-2.2, -2.5, -2.9, -3.3, -2.1)
]

describe("DPO through surrogate weights", () => {
  it.effect("gives the weight gradients of the DPO loss differentiated directly through the model", () =>
    Effect.gen(function*() {
      yield* runtime
      const surrogate = createTrainer(tinyArchitecture, 21)
      const direct = createTrainer(tinyArchitecture, 21)
      try {
        // The surrogate method, as forwardBackwardCustom runs it: logprobs from a forward,
        // dLoss/dlogprobs from the custom loss, then cross-entropy with weights −dLoss/dlogprobs.
        const zeroWeights = pairs.map((datum) => ({
          ...datum,
          loss_fn_inputs: { ...datum.loss_fn_inputs, weights: float32(datum.loss_fn_inputs["weights"]!.data.map(() => 0)) }
        }))
        const logprobs = forwardPass(surrogate, yield* lossRequest("test", tinyArchitecture, zeroWeights, "cross_entropy", {})).targetLogprobs
        const custom = dpoLoss({ beta, referenceLogprobs: reference })(pairs, logprobs)
        const weighted = pairs.map((datum, i) => ({
          ...datum,
          loss_fn_inputs: { ...datum.loss_fn_inputs, weights: float32(Array.from(custom.gradients[i]!, (g) => -g)) }
        }))
        forwardBackwardPass(surrogate, yield* lossRequest("test", tinyArchitecture, weighted, "cross_entropy", {}))

        // The same loss written in TensorFlow.js over the model's logprobs, differentiated by tfjs.
        const request = yield* lossRequest("test", tinyArchitecture, pairs, "cross_entropy", {})
        const { names, variables } = direct.trained
        const { value, grads } = tf.variableGrads(() => {
          const lp = batchLoss(tinyArchitecture, trainerWeights(direct), request).targetLogprobs
          const shape = lp.shape
          const mask = tf.tensor2d(request.batch.inputs.get("weights")!, shape)
          const ref = tf.tensor2d(request.batch.lengths.flatMap((n, i) =>
            Array.from({ length: shape[1] }, (_, t) => t < n ? reference[i]![t]! : 0)), shape)
          const margins = lp.sub(ref).mul(mask).sum(1).reshape([2, 2])
          const margin = margins.slice([0, 0], [2, 1]).sub(margins.slice([0, 1], [2, 1]))
          return tf.softplus(margin.mul(-beta)).sum() as tf.Scalar
        }, names.map((name) => variables.get(name)!))

        assert.closeTo(value.dataSync()[0]!, custom.loss, 1e-5)
        let largest = 0
        let worst = 0
        names.forEach((name) => {
          const expected = grads[variables.get(name)!.name]!.dataSync()
          const got = surrogate.gradients.get(name)!
          expected.forEach((e, i) => {
            largest = Math.max(largest, Math.abs(e))
            worst = Math.max(worst, Math.abs(e - got[i]!))
          })
        })
        assert.isAbove(largest, 1e-3, "the loss has a gradient to compare")
        assert.isBelow(worst / largest, 1e-4)
        tf.dispose([value, ...Object.values(grads)])
      } finally {
        disposeTrainer(surrogate)
        disposeTrainer(direct)
      }
    }))
})
