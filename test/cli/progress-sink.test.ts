import { PassThrough } from "node:stream"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeProgressSink } from "../../src/cli/progress-sink.js"

/** A stream that is not a terminal, as in CI logs, collecting what is written. */
const capture = () => {
  const stream = new PassThrough()
  let text = ""
  stream.on("data", (chunk) => (text += String(chunk)))
  return { stream: stream as unknown as NodeJS.WriteStream, text: () => text }
}

describe("progress sink", () => {
  it.effect("prints plain lines every N steps, the last step and evals when not on a terminal", () =>
    Effect.gen(function*() {
      const out = capture()
      const sink = makeProgressSink({ stream: out.stream, every: 2 })
      yield* sink.event({ name: "schedule", step: 0, data: { totalSteps: 3 } })
      yield* sink.event({ name: "eval", step: 0, data: { eval_nll: 5.123456, eval_tokens: 700, eval_bpb: 2.5 } })
      yield* sink.event({ name: "eval", step: 0, data: { eval_preference_accuracy: 0.485, eval_margin: 0 } })
      for (const step of [1, 2, 3]) yield* sink.record(step, { loss: 1 / step, lr: 0.001 })
      yield* sink.summarize({})
      const lines = out.text().trim().split("\n")
      assert.deepStrictEqual(lines.map((line) => line.replace(/\| [\d.e+-]+ steps\/s$/, "| R steps/s")), [
        "training for 3 steps",
        "eval at step 0: nll 5.123, bpb 2.5",
        "eval at step 0: preference_accuracy 0.485, margin 0",
        "step 2/3 | loss 0.5 | lr 0.001 | R steps/s",
        "step 3/3 | loss 0.3333 | lr 0.001 | R steps/s"
      ])
    }))
})
