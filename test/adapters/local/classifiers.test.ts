import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { conv2dSame } from "../../../src/adapters/local/conv2d-same.js"
import { makeLocalBackend } from "../../../src/adapters/local/local-backend.js"
import {
  adamParams,
  type ClassifierArchitecture,
  type Datum,
  float32,
  fromFloats,
  int64,
  type TrainingClient
} from "../../../src/ports/index.js"
import { type Digit, mnistDigits } from "../../support/mnist-digits.js"
import { awaitCall } from "./fixtures.js"

const backend = makeLocalBackend({ device: "wasm" })

const digitDatum = (digit: Digit, shape: ReadonlyArray<number>): Datum => ({
  model_input: fromFloats(Array.from(digit.pixels), shape),
  loss_fn_inputs: { target_tokens: int64([digit.label]), weights: float32([1]) }
})

/** A fixed pseudo-random permutation (a linear congruential shuffle), so runs repeat. */
const shuffled = <A>(items: ReadonlyArray<A>, seed: number): Array<A> => {
  const out = [...items]
  let state = seed
  for (let i = out.length - 1; i > 0; i--) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    const j = state % (i + 1)
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

/** Fraction of datums whose most likely class (from `class_logprobs`) is their label. */
const accuracy = Effect.fnUntraced(function*(client: TrainingClient["Service"], data: ReadonlyArray<Datum>) {
  let correct = 0
  for (let start = 0; start < data.length; start += 500) {
    const batch = data.slice(start, start + 500)
    const output = yield* awaitCall(client.forward(batch, "cross_entropy"))
    output.loss_fn_outputs.forEach((out, i) => {
      const classes = out["class_logprobs"]!.data
      const predicted = classes.indexOf(Math.max(...classes))
      if (predicted === batch[i]!.loss_fn_inputs["target_tokens"]!.data[0]) correct += 1
    })
  }
  return correct / data.length
})

/** Trains a classifier on MNIST digits and returns its held-out accuracy. */
const trainDigits = Effect.fnUntraced(function*(
  architecture: ClassifierArchitecture,
  size: 28 | 14,
  settings: { readonly steps: number; readonly batchSize: number; readonly lr: number }
) {
  const { train, test } = mnistDigits({ trainPerClass: 600, testPerClass: 250, size })
  const shape = architecture.inputShape
  const trainData = train.map((digit) => digitDatum(digit, shape))
  const testData = test.map((digit) => digitDatum(digit, shape))
  const client = yield* (yield* backend).createTrainingClient({ baseModel: architecture.kind, architecture, seed: 1 })
  const before = yield* accuracy(client, testData)
  let order: Array<Datum> = []
  for (let step = 0; step < settings.steps; step++) {
    const offset = (step * settings.batchSize) % trainData.length
    if (offset < settings.batchSize) order = shuffled(trainData, step + 1)
    const fb = yield* client.forwardBackward(order.slice(offset, offset + settings.batchSize), "cross_entropy")
    const opt = yield* client.optimStep(adamParams({ learning_rate: settings.lr }))
    yield* fb.result
    yield* opt.result
  }
  return { before, after: yield* accuracy(client, testData) }
})

describe("classifiers on MNIST digits (the mnist package's images, 600 per class to train, 250 held out)", () => {
  it.effect("an MLP on 28x28 pixels reaches 90% held-out accuracy", () =>
    Effect.gen(function*() {
      const { before, after } = yield* trainDigits(
        { kind: "mlp", inputShape: [28, 28], hidden: [128], classes: 10 },
        28,
        { steps: 500, batchSize: 64, lr: 3e-3 }
      )
      assert.isBelow(before, 0.3)
      assert.isAtLeast(after, 0.9)
    }))

  it.effect("a CNN on 14x14 pixels reaches 90% held-out accuracy", () =>
    Effect.gen(function*() {
      const { before, after } = yield* trainDigits(
        { kind: "cnn", inputShape: [14, 14, 1], filters: [8, 16], kernelSize: 3, hidden: [64], classes: 10 },
        14,
        { steps: 800, batchSize: 32, lr: 3e-3 }
      )
      assert.isBelow(before, 0.3)
      assert.isAtLeast(after, 0.9)
    }))
})

describe("conv2dSame", () => {
  it.effect("has the gradients of the convolution's definition on wasm, which lacks tfjs's own filter gradient", () =>
    Effect.gen(function*() {
      yield* backend
      assert.isUndefined(tf.getKernel("Conv2DBackpropFilter", "wasm"))
      const [b, h, w, c, k, f] = [2, 5, 4, 3, 3, 2]
      const x = tf.randomNormal([b, h, w, c], 0, 1, "float32", 1) as tf.Tensor4D
      const filter = tf.randomNormal([k, k, c, f], 0, 1, "float32", 2) as tf.Tensor4D
      const dy = tf.randomNormal([b, h, w, f], 0, 1, "float32", 3) as tf.Tensor4D
      const [dx, dw] = tf.grads((input, weights) =>
        conv2dSame(input as tf.Tensor4D, weights as tf.Tensor4D).mul(dy).sum()
      )([x, filter])
      const X = x.arraySync()
      const W = filter.arraySync()
      const DY = dy.arraySync()
      const DX = dx!.arraySync() as Array<Array<Array<Array<number>>>>
      const DW = dw!.arraySync() as Array<Array<Array<Array<number>>>>
      // Same padding for an odd kernel: output (y, z) reads input (y + i − p, z + j − p), p = (k − 1) / 2.
      const p = (k - 1) / 2
      const expectedDw = W.map((row, i) => row.map((col, j) => col.map((_, ch) => Array.from({ length: f }, (_, o) => {
        let total = 0
        for (let n = 0; n < b; n++) {
          for (let y = 0; y < h; y++) {
            for (let z = 0; z < w; z++) {
              const yy = y + i - p
              const zz = z + j - p
              if (yy >= 0 && yy < h && zz >= 0 && zz < w) total += X[n]![yy]![zz]![ch]! * DY[n]![y]![z]![o]!
            }
          }
        }
        return total
      }))))
      const expectedDx = X.map((image, n) => image.map((row, yy) => row.map((pixel, zz) => pixel.map((_, ch) => {
        let total = 0
        for (let i = 0; i < k; i++) {
          for (let j = 0; j < k; j++) {
            const y = yy - i + p
            const z = zz - j + p
            if (y < 0 || y >= h || z < 0 || z >= w) continue
            for (let o = 0; o < f; o++) total += W[i]![j]![ch]![o]! * DY[n]![y]![z]![o]!
          }
        }
        return total
      }))))
      const flat = (a: unknown): Array<number> => (a as Array<unknown>).flat(4) as Array<number>
      flat(DW).forEach((value, i) => assert.closeTo(value, flat(expectedDw)[i]!, 1e-4))
      flat(DX).forEach((value, i) => assert.closeTo(value, flat(expectedDx)[i]!, 1e-4))
      tf.dispose([x, filter, dy, dx!, dw!])
    }))
})
