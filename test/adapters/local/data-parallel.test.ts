import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeLocalBackend } from "../../../src/adapters/local/local-backend.js"
import { adamParams, type TrainingBackend } from "../../../src/ports/index.js"
import { awaitCall, bytesOf, everyLoss, fixedBatch, maxAbsDiff, tinyArchitecture, weightValues } from "./fixtures.js"

// Data-parallel training: each batch cut across worker threads (the compiled worker in dist/,
// so `npm run build` first, as `npm test` does), gradients added in part order.
const adam = adamParams({ learning_rate: 1e-2 })

/** Three steps of every loss on the fixed batch; the weights, the losses and every datum's logprobs. */
const train = (backend: TrainingBackend["Service"], lora = false) =>
  Effect.gen(function*() {
    const client = yield* backend.createTrainingClient({ baseModel: "tiny", architecture: tinyArchitecture, seed: 3, ...(lora ? { lora: { rank: 2 } } : {}) })
    const losses: Array<number> = []
    const logprobs: Array<number> = []
    for (const [lossFn, config] of everyLoss.slice(0, 3)) {
      const data = lossFn === "cross_entropy" ? fixedBatch : fixedBatch.map((datum) => ({
        ...datum,
        loss_fn_inputs: {
          ...datum.loss_fn_inputs,
          logprobs: { ...datum.loss_fn_inputs["weights"]!, data: datum.loss_fn_inputs["weights"]!.data.map(() => -2) },
          advantages: { ...datum.loss_fn_inputs["weights"]!, data: datum.loss_fn_inputs["weights"]!.data.map((_, i) => (i % 3) - 1) }
        }
      }))
      const output = yield* awaitCall(client.forwardBackward(data, lossFn, config))
      yield* awaitCall(client.optimStep(adam))
      losses.push(output.metrics["loss:sum"]!)
      logprobs.push(...output.loss_fn_outputs.flatMap((out) => Array.from(out.logprobs.data as ArrayLike<number>)))
    }
    return { client, weights: yield* weightValues(client), losses, logprobs }
  })

describe("data-parallel local training (threads)", () => {
  it.effect("two threads train as one does (up to rounding), the same bits every time, LoRA too; loads reach the workers", () =>
    Effect.gen(function*() {
      const one = yield* makeLocalBackend({ device: "wasm", threads: 1 })
      const two = yield* makeLocalBackend({ device: "wasm", threads: 2 })
      for (const lora of [false, true]) {
        const alone = yield* train(one, lora)
        const split = yield* train(two, lora)
        const again = yield* train(two, lora)
        // Same terms summed in another order: rounding apart, the same training. Adam divides
        // by the gradient's scale, so a weight whose gradient is all rounding can move by a
        // sizeable part of a step: the bar is 1% of one step (lr 1e-2), where a part's
        // missing gradient would show as whole steps.
        assert.isBelow(maxAbsDiff(split.weights, alone.weights), 1e-4)
        assert.isBelow(maxAbsDiff(split.losses, alone.losses), 1e-4 * Math.max(...alone.losses.map(Math.abs)))
        assert.isBelow(maxAbsDiff(split.logprobs, alone.logprobs), 1e-4)
        // A fixed thread count gives the same bits.
        assert.deepStrictEqual(Array.from(again.weights), Array.from(split.weights))
        assert.deepStrictEqual(again.losses, split.losses)
      }
      // A state loaded into a two-thread client reaches its worker: the next step matches a
      // one-thread client that loaded the same state.
      const source = yield* train(one)
      const state = yield* awaitCall(source.client.saveState("mid"))
      const results = []
      for (const backend of [one, two]) {
        const client = yield* backend.createTrainingClient({ baseModel: "tiny", architecture: tinyArchitecture, seed: 9 })
        yield* awaitCall(client.forwardBackward(fixedBatch, "cross_entropy"))
        yield* awaitCall(client.optimStep(adam))
        yield* awaitCall(client.loadState({ _tag: "Bytes", bytes: bytesOf(state) }, { optimizer: true }))
        const output = yield* awaitCall(client.forwardBackward(fixedBatch, "cross_entropy"))
        yield* awaitCall(client.optimStep(adam))
        results.push({ loss: output.metrics["loss:sum"]!, weights: yield* weightValues(client) })
      }
      assert.isBelow(Math.abs(results[0]!.loss - results[1]!.loss), 1e-4 * Math.abs(results[0]!.loss))
      assert.isBelow(maxAbsDiff(results[0]!.weights, results[1]!.weights), 1e-4)
    }), 120_000)

  it.effect("refuses a thread count that is not a positive integer", () =>
    Effect.gen(function*() {
      for (const threads of [0, 1.5, -2]) {
        const error = yield* Effect.flip(makeLocalBackend({ device: "wasm", threads }))
        assert.strictEqual(error.message, `threads must be "auto" or an integer >= 1, got ${threads}`)
      }
    }))

  it.effect("a batch past the activation budget runs in parts on one thread and trains as the whole batch does", () =>
    Effect.gen(function*() {
      const whole = yield* makeLocalBackend({ device: "wasm", threads: 1 })
      // A budget of one byte cuts every batch into one datum per part.
      const parts = yield* makeLocalBackend({ device: "wasm", threads: 1, activationBudget: 1 })
      for (const lora of [false, true]) {
        const alone = yield* train(whole, lora)
        const cut = yield* train(parts, lora)
        // The bars of the thread test above: the same sums in another order.
        assert.isBelow(maxAbsDiff(cut.weights, alone.weights), 1e-4)
        assert.isBelow(maxAbsDiff(cut.losses, alone.losses), 1e-4 * Math.max(...alone.losses.map(Math.abs)))
        assert.isBelow(maxAbsDiff(cut.logprobs, alone.logprobs), 1e-4)
        assert.notDeepEqual(Array.from(cut.weights), Array.from(alone.weights), "one part per datum rounds differently from the whole batch")
      }
    }), 60_000)
})
