import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { makeLocalBackend } from "../../../src/adapters/local/index.js"
import {
  adamParams,
  type Datum,
  float32,
  fromInts,
  int64,
  type Pending,
  type TrainingCallError,
  type TransformerArchitecture
} from "../../../src/ports/index.js"
import { type CustomLoss, forwardBackwardCustom } from "../../../src/stages/training/custom-loss.js"
import { dpoLoss } from "../../../src/stages/preference/dpo-loss.js"

const architecture: TransformerArchitecture = {
  kind: "transformer",
  vocabSize: 16,
  contextLength: 8,
  width: 8,
  layers: 1,
  heads: 2
}
const backend = makeLocalBackend({ device: "cpu" })
const client = (seed: number) =>
  Effect.flatMap(backend, (b) => b.createTrainingClient({ baseModel: "tiny", architecture, seed }))
const adam = adamParams({ learning_rate: 1e-2 })

const awaitCall = <A, E>(submit: Effect.Effect<Pending<A, E>, E>): Effect.Effect<A, E> =>
  Effect.flatMap(submit, (pending) => pending.result)

/** The datum that trains `tokens[1:]` on `tokens[:-1]` with the given weights. */
const sequenceDatum = (tokens: ReadonlyArray<number>, weights: ReadonlyArray<number>): Datum => ({
  model_input: fromInts(tokens.slice(0, -1)),
  loss_fn_inputs: { target_tokens: int64(tokens.slice(1)), weights: float32(weights) }
})

const batch = [
  sequenceDatum([1, 2, 3, 4, 5, 6], [0, 0, 1, 1, 1]),
  sequenceDatum([3, 1, 4, 1, 5, 9, 2, 6, 5], [1, 1, 1, 1, 0.5, 1, 1, 1]),
  sequenceDatum([2, 7, 1], [1, 1])
]

const weightsOf = (datum: Datum) => datum.loss_fn_inputs["weights"]!.data

/** Plain weighted cross-entropy, written as a custom loss: −Σ w·logp, gradient −w. */
const crossEntropy: CustomLoss = (data, logprobs) => ({
  loss: data.reduce((total, datum, i) => total - weightsOf(datum).reduce((sum, w, t) => sum + w * logprobs[i]![t]!, 0), 0),
  gradients: data.map((datum) => Float32Array.from(weightsOf(datum), (w) => -w)),
  metrics: { "tokens:sum": data.reduce((total, datum) => total + weightsOf(datum).reduce((a, b) => a + b, 0), 0) }
})

const logprobsOf = (output: { readonly loss_fn_outputs: ReadonlyArray<Record<string, { readonly data: ReadonlyArray<number> }>> }) =>
  output.loss_fn_outputs.flatMap((out) => out["logprobs"]!.data)

const maxAbsDiff = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): number => {
  assert.strictEqual(a.length, b.length)
  return a.reduce((max, x, i) => Math.max(max, Math.abs(x - b[i]!)), 0)
}

/** The message of the InvalidRequestError a call failed with. */
const invalidRequestMessage = <A>(effect: Effect.Effect<A, TrainingCallError>) =>
  Effect.map(Effect.exit(effect), (exit) => {
    assert.isTrue(Exit.isFailure(exit), "the call should fail")
    const error = Exit.findErrorOption(exit)
    assert.strictEqual(error._tag === "Some" && error.value._tag, "InvalidRequestError")
    return error._tag === "Some" ? error.value.message : ""
  })

describe("forwardBackwardCustom", () => {
  it.effect("with cross-entropy as the custom loss, trains exactly like the built-in cross_entropy", () =>
    Effect.gen(function*() {
      const custom = yield* client(1)
      const plain = yield* client(1)
      const before = yield* awaitCall(plain.forward(batch, "cross_entropy"))

      // The optimizer step is queued before the custom result is awaited; it must still
      // apply the surrogate's gradients.
      const pending = yield* forwardBackwardCustom(custom, batch, crossEntropy)
      const customStep = yield* custom.optimStep(adam)
      const output = yield* pending.result
      yield* customStep.result

      const expected = yield* awaitCall(plain.forwardBackward(batch, "cross_entropy"))
      yield* awaitCall(plain.optimStep(adam))

      assert.strictEqual(output.loss_fn_output_type, "custom")
      assert.strictEqual(output.loss_fn_outputs.length, batch.length)
      assert.isBelow(maxAbsDiff(logprobsOf(output), logprobsOf(before)), 1e-6, "the logprobs the loss saw")
      assert.closeTo(output.metrics["loss:sum"]!, expected.metrics["loss:sum"]!, 1e-5 * expected.metrics["loss:sum"]!)
      assert.strictEqual(output.metrics["tokens:sum"], 12.5)

      const customAfter = logprobsOf(yield* awaitCall(custom.forward(batch, "cross_entropy")))
      const plainAfter = logprobsOf(yield* awaitCall(plain.forward(batch, "cross_entropy")))
      assert.isAbove(maxAbsDiff(plainAfter, logprobsOf(before)), 1e-4, "the step changed the model")
      assert.isBelow(maxAbsDiff(customAfter, plainAfter), 1e-6)
    }))

  it.effect("trains DPO: the chosen response gains on the rejected one", () =>
    Effect.gen(function*() {
      const policy = yield* client(2)
      // Same prompt [1, 2, 3]; the responses differ. Weights mark the response tokens.
      const pair = [sequenceDatum([1, 2, 3, 4, 5, 6], [0, 0, 1, 1, 1]), sequenceDatum([1, 2, 3, 9, 8, 7], [0, 0, 1, 1, 1])]
      const reference = (yield* awaitCall(policy.forward(pair, "cross_entropy"))).loss_fn_outputs.map((out) =>
        Float32Array.from(out["logprobs"]!.data)
      )
      const loss = dpoLoss({ beta: 0.5, referenceLogprobs: reference })
      const metrics = []
      for (let step = 0; step < 10; step++) {
        const pending = yield* forwardBackwardCustom(policy, pair, loss)
        yield* awaitCall(policy.optimStep(adam))
        metrics.push((yield* pending.result).metrics)
      }
      assert.closeTo(metrics[0]!["loss:sum"]!, Math.log(2), 1e-6, "policy = reference: margin 0")
      assert.isBelow(metrics[9]!["loss:sum"]!, metrics[0]!["loss:sum"]! - 0.1)
      assert.isAbove(metrics[9]!["margin:mean"]!, 0.1)
      assert.strictEqual(metrics[9]!["accuracy:mean"], 1)
    }))

  it.effect("refuses gradients of the wrong shape, naming the datum", () =>
    Effect.gen(function*() {
      const model = yield* client(1)
      const short: CustomLoss = (data, logprobs) => ({
        ...crossEntropy(data, logprobs),
        gradients: logprobs.map((lp, i) => (i === 1 ? lp.slice(1) : new Float32Array(lp.length)))
      })
      assert.include(yield* invalidRequestMessage(forwardBackwardCustom(model, batch, short)), "datum 1 has a gradient of 7 values for 8 logprobs")

      const missing: CustomLoss = (data, logprobs) => ({ ...crossEntropy(data, logprobs), gradients: [] })
      assert.include(yield* invalidRequestMessage(forwardBackwardCustom(model, batch, missing)), "datum 0 has no gradient")

      const notFinite: CustomLoss = (data, logprobs) => ({
        ...crossEntropy(data, logprobs),
        gradients: logprobs.map((lp, i) => (i === 2 ? Float32Array.from(lp, () => Number.NaN) : new Float32Array(lp.length)))
      })
      assert.include(yield* invalidRequestMessage(forwardBackwardCustom(model, batch, notFinite)), "datum 2 has a gradient value that is not finite")
    }))

  it.effect("refuses datums with keys other than target_tokens and weights, and losses that throw", () =>
    Effect.gen(function*() {
      const model = yield* client(1)
      const withAdvantages: Datum = {
        ...batch[1]!,
        loss_fn_inputs: { ...batch[1]!.loss_fn_inputs, advantages: float32([1, 1, 1, 1, 1, 1, 1, 1]) }
      }
      const message = yield* invalidRequestMessage(forwardBackwardCustom(model, [batch[0]!, withAdvantages], crossEntropy))
      assert.include(message, "datum 1: loss_fn_inputs.advantages is not allowed")

      const odd = dpoLoss({ beta: 0.1, referenceLogprobs: [] })
      assert.include(yield* invalidRequestMessage(forwardBackwardCustom(model, batch, odd)), "odd count 3")
    }))
})
