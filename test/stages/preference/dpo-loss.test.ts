import { assert, describe, it } from "@effect/vitest"
import { type Datum, float32, fromInts, int64 } from "../../../src/ports/index.js"
import { dpoLoss } from "../../../src/stages/preference/dpo-loss.js"

/** A datum whose targets are irrelevant here: DPO reads only the weights and the logprobs. */
const datum = (weights: ReadonlyArray<number>): Datum => ({
  model_input: fromInts(weights.map(() => 1)),
  loss_fn_inputs: { target_tokens: int64(weights.map(() => 2)), weights: float32(weights) }
})

const f32 = (values: ReadonlyArray<number>) => Float32Array.from(values)

// Two pairs; the first prefers the chosen response (more than the reference does), the
// second the rejected one. Weight 0 marks prompt tokens; the 0.5 checks weighting is linear.
// Every value is a multiple of 2^-8, so the finite differences below are exact in float32.
const data = [datum([0, 1, 1]), datum([0, 1]), datum([0, 0.5, 1, 1]), datum([1, 1])]
const policy = [f32([-1, -0.5, -0.25]), f32([-2, -1.5]), f32([-3, -2, -1, -0.75]), f32([-0.5, -0.25])]
const reference = [f32([-1, -1, -0.5]), f32([-1, -1]), f32([-2, -1.5, -1.25, -0.5]), f32([-0.75, -0.5])]
const beta = 0.5

describe("dpoLoss", () => {
  it("matches a hand computation: −log σ(β·margin) summed over pairs, and its metrics", () => {
    // Pair 0: chosen (−0.75) − (−1.5) = 0.75, rejected (−1.5) − (−1) = −0.5, margin 1.25.
    // Pair 1: chosen (0.5·−2 − 1 − 0.75) − (0.5·−1.5 − 1.25 − 0.5) = −2.75 + 2.5 = −0.25,
    //         rejected (−0.75) − (−1.25) = 0.5, margin −0.75.
    const first = beta * 1.25
    const second = beta * -0.75
    const expected = Math.log(1 + Math.exp(-first)) + Math.log(1 + Math.exp(-second))
    const result = dpoLoss({ beta, referenceLogprobs: reference })(data, policy)
    assert.closeTo(result.loss, expected, 1e-12)
    assert.deepStrictEqual(result.metrics, {
      "accuracy:mean": 0.5,
      "margin:mean": (first + second) / 2,
      "pairs:sum": 2
    })
    // Chosen tokens are pushed up (negative gradient), rejected ones down, prompt tokens not at all.
    const slope = beta / (1 + Math.exp(first))
    assert.deepStrictEqual(Array.from(result.gradients[0]!), Array.from(f32([0, -slope, -slope])))
    assert.deepStrictEqual(Array.from(result.gradients[1]!), Array.from(f32([0, slope])))
  })

  it("gives the gradient of its value: central finite differences agree to a relative 1e-6", () => {
    const loss = dpoLoss({ beta, referenceLogprobs: reference })
    const analytic = loss(data, policy).gradients
    const h = 2 ** -12
    for (const [index, logprobs] of policy.entries()) {
      for (let t = 0; t < logprobs.length; t++) {
        const at = (delta: number) => {
          const moved = policy.map((lp) => Float32Array.from(lp))
          moved[index]![t] = logprobs[t]! + delta
          // The perturbed point is exactly what the loss sees: no float32 rounding.
          assert.strictEqual(moved[index]![t], logprobs[t]! + delta)
          return loss(data, moved).loss
        }
        const numeric = (at(h) - at(-h)) / (2 * h)
        const exact = analytic[index]![t]!
        const scale = Math.max(Math.abs(numeric), Math.abs(exact))
        if (scale === 0) continue
        assert.isBelow(Math.abs(exact - numeric) / scale, 1e-6, `datum ${index}, token ${t}: ${exact} vs ${numeric}`)
      }
    }
  })

  it("stays finite for huge margins either way (softplus, not log of σ)", () => {
    const pair = [datum([1]), datum([1])]
    const far = dpoLoss({ beta: 1, referenceLogprobs: [f32([0]), f32([0])] })
    const right = far(pair, [f32([0]), f32([-1000])])
    assert.closeTo(right.loss, 0, 1e-300)
    assert.strictEqual(right.metrics["accuracy:mean"], 1)
    const wrong = far(pair, [f32([-1000]), f32([0])])
    assert.closeTo(wrong.loss, 1000, 1e-9)
    assert.deepStrictEqual(wrong.gradients.map((g) => Array.from(g)), [[-1], [1]])
  })

  it("refuses an odd number of datums, missing weights and mismatched reference lengths", () => {
    const loss = dpoLoss({ beta, referenceLogprobs: reference.slice(0, 3) })
    assert.throws(() => loss(data.slice(0, 3), policy.slice(0, 3)), /odd count 3/)
    const unweighted: Datum = { ...data[1]!, loss_fn_inputs: { target_tokens: int64([2, 2]) } }
    assert.throws(
      () => dpoLoss({ beta, referenceLogprobs: reference })([data[0]!, unweighted, ...data.slice(2)], policy),
      /datum 1: loss_fn_inputs.weights is missing/
    )
    const shortReference = [reference[0]!, f32([-1]), ...reference.slice(2)]
    assert.throws(() => dpoLoss({ beta, referenceLogprobs: shortReference })(data, policy), /datum 1: 1 reference logprobs for 2/)
    assert.throws(() => dpoLoss({ beta: 0, referenceLogprobs: reference })(data, policy), /beta must be positive/)
  })
})
