import { readdirSync, writeFileSync } from "node:fs"
import { hostname } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeTensorboardSink } from "../../../src/adapters/metrics/tensorboard/tensorboard-sink.js"
import { crc32c, readEvents } from "../../support/tensorboard-reader.js"
import { tempDirectory } from "../../support/temp-directory.js"

describe("makeTensorboardSink", () => {
  it("is read back with a CRC-32C that gives the standard check value", () => {
    assert.strictEqual(crc32c(new TextEncoder().encode("123456789")), 0xe3069283)
  })

  it.live("writes framed events TensorBoard reads: the version first, then a scalar per metric and eval measure at its step", () =>
    Effect.gen(function*() {
      const dir = join(yield* tempDirectory("tensorboard"), "nested")
      const before = Date.now() / 1000
      const records = [
        { step: 1, metrics: { loss: 2.718281828, "grad_norm:mean": 297.82, lr: 1e-4 } },
        { step: 2, metrics: { loss: 2.5, "grad_norm:mean": 310.9, lr: 2e-4 } },
        { step: 300, metrics: { loss: Number.NaN } }
      ]
      yield* Effect.scoped(Effect.gen(function*() {
        const sink = yield* makeTensorboardSink(dir)
        for (const { metrics, step } of records) yield* sink.record(step, metrics)
        yield* sink.event({ name: "eval", step: 2, data: { eval_nll: 1.8383, eval_tokens: 702, note: "not a number" } })
        yield* sink.event({ name: "checkpoint", step: 2, data: { name: "step-2" } })
        yield* sink.summarize({ steps: 300 })
      }))

      const files = readdirSync(dir)
      assert.strictEqual(files.length, 1)
      assert.match(files[0]!, new RegExp(`^events\\.out\\.tfevents\\.\\d{10}\\.${hostname().replaceAll(".", "\\.")}\\.${process.pid}\\.\\d+$`))
      const [first, ...rest] = readEvents(join(dir, files[0]!))
      assert.strictEqual(first!.fileVersion, "brain.Event:2")
      assert.isTrue(first!.wallTime >= Math.floor(before) && first!.wallTime <= Date.now() / 1000)

      const scalars = rest.map((event) => ({
        step: event.step,
        values: event.summary!.value.map(({ simpleValue, tag }) => [tag, simpleValue])
      }))
      // Scalars are 32-bit floats; NaN stays NaN.
      assert.deepStrictEqual(scalars, [
        ...records.map(({ metrics, step }) => ({ step, values: Object.entries(metrics).map(([tag, value]) => [tag, Math.fround(value)]) })),
        { step: 2, values: [["eval_nll", Math.fround(1.8383)], ["eval_tokens", 702]] }
      ])
      for (const event of rest) assert.isTrue(event.wallTime >= first!.wallTime)
    }))

  it.live("marks where a resumed run restarts with a SessionLog START at that step", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirectory("tensorboard")
      yield* Effect.scoped(Effect.flatMap(makeTensorboardSink(dir, { restartAt: 7 }), (sink) => sink.record(7, { loss: 1 })))
      const events = readEvents(join(dir, readdirSync(dir)[0]!))
      assert.deepStrictEqual(events.map((event) => [event.step ?? 0, event.fileVersion ?? event.sessionLog?.status ?? "summary"]), [
        [0, "brain.Event:2"], [7, "START"], [7, "summary"]
      ])
    }))

  it.live("fails with the file named when the directory cannot be made", () =>
    Effect.gen(function*() {
      const base = yield* tempDirectory("tensorboard")
      const blocker = join(base, "a-file")
      writeFileSync(blocker, "")
      const error = yield* Effect.flip(Effect.scoped(makeTensorboardSink(join(blocker, "tb"))))
      assert.match(error.message, /^cannot open \S*a-file\/tb\/events\.out\.tfevents\.\S+: ENOTDIR/)
    }))
})
