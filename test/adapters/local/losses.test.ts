import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { type LossRequest, lossRequest } from "../../../src/adapters/local/datum-batch.js"
import {
  createTrainer,
  disposeTrainer,
  forwardBackwardPass,
  forwardPass,
  type LocalTrainer
} from "../../../src/adapters/local/local-trainer.js"
import { lookupIn } from "../../../src/adapters/local/parameters.js"
import { initTfRuntime } from "../../../src/adapters/local/tf-runtime.js"
import { transformerLogits } from "../../../src/adapters/local/transformer.js"
import {
  type Datum,
  float32,
  fromInts,
  int64,
  type LossFnConfig,
  type LossFnType,
  type TransformerArchitecture
} from "../../../src/ports/index.js"
import { everyLoss } from "./fixtures.js"

const runtime = initTfRuntime("wasm")

const arch: TransformerArchitecture = { kind: "transformer", vocabSize: 8, contextLength: 6, width: 8, layers: 1, heads: 2 }

/** Two sequences of different lengths, so the batch is padded. */
const sequences = [
  { inputs: [1, 4, 2, 7, 3], targets: [4, 2, 7, 3, 5], advantages: [1, -0.5, 2, -1.5, 0.75] },
  { inputs: [6, 0, 5], targets: [0, 5, 1], advantages: [-1, 1.25, 0.5] }
]

// Sampler logprobs = model logprobs − offset, so the ratios exp(offset) land on both sides of
// the clip range (0.61, 0.95, 1.05, 1.65, ...) and none near a clip edge, where the loss has a kink.
const offsets = [0.5, -0.05, -0.5, 0.05, 0.3, -0.3, 0.5, 0.05]

// Thresholds that clip ratios on both sides (0.61 and 0.74 up to 0.9; 1.35 and 1.65 down to
// 1.1), which CISPO's defaults (0 and 4) never do for these ratios.
const tight: LossFnConfig = { clip_low_threshold: 0.9, clip_high_threshold: 1.1 }
const lossCases: ReadonlyArray<readonly [LossFnType, LossFnConfig]> = [...everyLoss, ["ppo", tight], ["cispo", tight]]

/** log p(target) of every position, from the model's logits read back and a float64 log-softmax. */
const handLogprobs = (trainer: LocalTrainer): Array<Array<number>> =>
  sequences.map(({ inputs, targets }) => {
    const logits = tf.tidy(() =>
      transformerLogits(arch, lookupIn(trainer.model), tf.tensor2d(inputs, [1, inputs.length], "int32")).arraySync()[0]!
    )
    return logits.map((row, t) => {
      const max = Math.max(...row)
      const logTotal = max + Math.log(row.reduce((total, z) => total + Math.exp(z - max), 0))
      return row[targets[t]!]! - logTotal
    })
  })

const datums = (sampled: Array<Array<number>>, weights?: Array<Array<number>>): Array<Datum> =>
  sequences.map(({ inputs, targets, advantages }, i) => ({
    model_input: fromInts(inputs),
    loss_fn_inputs: {
      target_tokens: int64(targets),
      advantages: float32(advantages),
      logprobs: float32(sampled[i]!),
      weights: float32(weights?.[i] ?? advantages.map((a) => Math.abs(a)))
    }
  }))

const request = (lossFn: LossFnType, data: Array<Datum>, config?: LossFnConfig): LossRequest =>
  Effect.runSync(lossRequest("test", arch, data, lossFn, config))

/** A ratio clipped to the thresholds of `config`. */
const clipRatio = (config: Record<string, number>) => (r: number) =>
  Math.min(Math.max(r, config["clip_low_threshold"]!), config["clip_high_threshold"]!)

/** The loss per position by the protocol's formulas, in float64; `lp` the model's, `q` the sampler's. */
const handLoss = (lossFn: LossFnType, config: Record<string, number>) => (lp: number, q: number, a: number, w: number) => {
  const ratio = Math.exp(lp - q)
  const clip = clipRatio(config)
  switch (lossFn) {
    case "cross_entropy":
      return -w * lp
    case "importance_sampling":
      return -ratio * a
    case "ppo":
      return -Math.min(ratio * a, clip(ratio) * a)
    case "cispo":
      return -clip(ratio) * lp * a
    case "dro":
      return -(lp * a - 0.5 * config["beta"]! * (lp - q) ** 2)
  }
}

const unit = (parts: ReadonlyArray<tf.Tensor>): Array<tf.Tensor> => {
  const norm = Math.sqrt(parts.reduce((total, t) => total + t.square().sum().dataSync()[0]!, 0))
  return parts.map((t) => t.div(norm))
}

/**
 * A unit direction in weight space: the normalised gradient plus a random unit vector drawn
 * from `seed`. The random half checks the gradient's orientation; the gradient half keeps the
 * derivative large against float32 rounding, which a purely random direction may not.
 */
const direction = (trainer: LocalTrainer, seed: number): Map<string, tf.Tensor> => {
  const { names, variables } = trainer.trained
  const mixed = tf.tidy(() => {
    const random = unit(names.map((name, i) => tf.randomNormal(variables.get(name)!.shape, 0, 1, "float32", seed * 1000 + i)))
    const gradient = unit(names.map((name) => tf.tensor(trainer.gradients.get(name)!, variables.get(name)!.shape)))
    return unit(names.map((_, i) => random[i]!.add(gradient[i]!)))
  })
  return new Map(names.map((name, i) => [name, mixed[i]!]))
}

/** Moves every trained variable by `scale` times the direction. */
const shift = (trainer: LocalTrainer, dir: Map<string, tf.Tensor>, scale: number): void =>
  tf.tidy(() => {
    for (const [name, d] of dir) {
      const variable = trainer.trained.variables.get(name)!
      variable.assign(variable.add(d.mul(scale)))
    }
  })

/** g·d: the directional derivative the accumulated gradients give. */
const gradientAlong = (trainer: LocalTrainer, dir: Map<string, tf.Tensor>): number =>
  [...dir].reduce((total, [name, d]) => {
    const gradient = trainer.gradients.get(name)!
    return total + (d.dataSync() as Float32Array).reduce((sum, value, i) => sum + value * gradient[i]!, 0)
  }, 0)

/**
 * The derivative of `lossOf` along `dir` by central differences (L(θ + εd) − L(θ − εd)) / 2ε
 * at ε and ε/2, combined by Richardson extrapolation so the O(ε²) error cancels.
 */
const numericDerivative = (trainer: LocalTrainer, dir: Map<string, tf.Tensor>, lossOf: () => number, eps: number) => {
  const central = (h: number) => {
    shift(trainer, dir, h)
    const plus = lossOf()
    shift(trainer, dir, -2 * h)
    const minus = lossOf()
    shift(trainer, dir, h)
    return (plus - minus) / (2 * h)
  }
  return (4 * central(eps / 2) - central(eps)) / 3
}

describe("local losses", () => {
  for (const [lossFn, config] of lossCases) {
    it.effect(`${lossFn} ${JSON.stringify(config)}: value by hand, gradient by finite differences`, () =>
      Effect.gen(function*() {
        yield* runtime
        const trainer = createTrainer(arch, 5)
        try {
          const lp = handLogprobs(trainer)
          const sampled = lp.map((row) => row.map((value, t) => value - offsets[t]!))
          const data = datums(sampled)
          const req = request(lossFn, data, config)
          const perPosition = handLoss(lossFn, req.config)

          // The value, the per-position losses and the logprobs, against the float64 formulas.
          const result = forwardBackwardPass(trainer, req)
          let expected = 0
          sequences.forEach(({ advantages }, i) => {
            const weights = data[i]!.loss_fn_inputs["weights"]!.data
            lp[i]!.forEach((value, t) => {
              const loss = perPosition(value, sampled[i]![t]!, advantages[t]!, weights[t]!)
              assert.closeTo(result.targetLogprobs[i]![t]!, value, 1e-5)
              assert.closeTo(result.positionLosses[i]![t]!, loss, 1e-5 * Math.max(1, Math.abs(loss)))
              expected += loss
            })
          })
          assert.closeTo(result.loss, expected, 1e-5 * Math.max(1, Math.abs(expected)))

          // The loss as a function of the weights, summed in float64 from the model's logprobs
          // (a float32 sum would round more than the differences measure). CISPO's clipped
          // ratio is a stopped-gradient coefficient, so its gradient is that of Σ −c·A·log p
          // with c held at its current value.
          const clip = clipRatio(req.config)
          const coefficients = lp.map((row, i) => row.map((value, t) => clip(Math.exp(value - sampled[i]![t]!))))
          const lossAt = (): number =>
            forwardPass(trainer, req).targetLogprobs.reduce((total, row, i) =>
              total + Array.from(row).reduce((sum, value, t) => {
                const a = sequences[i]!.advantages[t]!
                const q = sampled[i]![t]!
                const w = data[i]!.loss_fn_inputs["weights"]!.data[t]!
                if (lossFn !== "cispo") return sum + perPosition(value, q, a, w)
                return sum - coefficients[i]![t]! * value * a // the clipped ratio, held fixed
              }, 0), 0)
          for (const seed of [1, 2, 3]) {
            const dir = direction(trainer, seed)
            const analytic = gradientAlong(trainer, dir)
            const numeric = numericDerivative(trainer, dir, lossAt, 1e-2)
            tf.dispose([...dir.values()])
            assert.isAbove(Math.abs(analytic), 1e-2, "a direction along which the loss changes")
            assert.isBelow(Math.abs(analytic - numeric) / Math.abs(analytic), 1e-3, `seed ${seed}: ${analytic} vs ${numeric}`)
          }
        } finally {
          disposeTrainer(trainer)
        }
      }))
  }

  it.effect("padding adds nothing: a padded batch's loss is the sum of its datums' losses", () =>
    Effect.gen(function*() {
      yield* runtime
      const trainer = createTrainer(arch, 6)
      try {
        const sampled = handLogprobs(trainer).map((row) => row.map((value, t) => value - offsets[t]!))
        const data = datums(sampled)
        const together = forwardPass(trainer, request("dro", data, { beta: 2 })).loss
        const apart = data.reduce((total, datum) => total + forwardPass(trainer, request("dro", [datum], { beta: 2 })).loss, 0)
        assert.closeTo(together, apart, 1e-5 * Math.abs(apart))
      } finally {
        disposeTrainer(trainer)
      }
    }))
})
