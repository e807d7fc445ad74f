import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { isRetryable } from "../../../src/durable/segment/segment-errors.js"
import { requireFinite } from "../../../src/stages/index.js"

describe("requireFinite", () => {
  it.effect("passes finite losses, gradient norms and evaluations, and metrics it does not guard whatever they hold", () =>
    Effect.gen(function*() {
      yield* requireFinite(3, { loss: 1.5, "grad_norm:mean": 2, lr: 1e-3 }, "training")
      yield* requireFinite(3, { eval_nll: 0.7, eval_tokens: 10 }, "evaluation")
      // An RL step with no group kept has no loss; its reward statistics may be undefined.
      yield* requireFinite(4, { reward_std: Number.NaN, skipped: 1, tokens: 0 }, "training")
    }))

  it.effect("stops a run whose loss, gradient norm or evaluation is not finite, naming the step, the metric and the learning rate", () =>
    Effect.gen(function*() {
      const nan = yield* Effect.flip(requireFinite(7, { loss: Number.NaN, lr: 0.5 }, "training"))
      assert.strictEqual(nan._tag, "DivergedError")
      assert.deepStrictEqual([nan.step, nan.metric], [7, "loss"])
      assert.include(nan.message, "training diverged at step 7: loss is NaN at learning rate 0.5")
      const norm = yield* Effect.flip(requireFinite(2, { loss: 1, "grad_norm:mean": Number.POSITIVE_INFINITY }, "training"))
      assert.strictEqual(norm.metric, "grad_norm:mean")
      const evaluation = yield* Effect.flip(requireFinite(5, { eval_nll: Number.NaN }, "evaluation"))
      assert.include(evaluation.message, "evaluation diverged at step 5: eval_nll is NaN")
      // It would diverge again from the same checkpoint: a durable run does not try again.
      assert.isFalse(isRetryable(nan))
    }))
})
