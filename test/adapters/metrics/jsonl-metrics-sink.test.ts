import * as fs from "node:fs/promises"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { jsonlMetricsSinkLayer, makeJsonlMetricsSink } from "../../../src/adapters/metrics/jsonl-metrics-sink.js"
import { MetricsSink } from "../../../src/ports/index.js"
import { tempDirectory } from "../../support/temp-directory.js"

const readText = (file: string): Effect.Effect<string> => Effect.promise(() => fs.readFile(file, "utf8"))

describe("JsonlMetricsSink", () => {
  it.effect("writes one exact JSON line per record and per event", () =>
    Effect.gen(function*() {
      const runDir = path.join(yield* tempDirectory("jsonl-metrics"), "runs", "r1")
      yield* TestClock.setTime(Date.parse("2025-01-02T03:04:05.678Z"))
      yield* Effect.scoped(Effect.gen(function*() {
        const sink = yield* makeJsonlMetricsSink(runDir)
        yield* sink.record(1, { loss: 2.5, lr: 0.001, tokens: 4096, seconds: 0.25 })
        yield* sink.event({ name: "checkpoint.committed", step: 1, data: { name: "step-1", blobs: ["a", "b"] } })
        yield* sink.record(2, { loss: 2.25, lr: 0.001, tokens: 8192, seconds: 0.5 })
        yield* sink.event({ name: "stage.end", step: 2 })
        yield* sink.flush
      }))
      assert.strictEqual(
        yield* readText(path.join(runDir, "metrics.jsonl")),
        "{\"step\":1,\"loss\":2.5,\"lr\":0.001,\"tokens\":4096,\"seconds\":0.25}\n" +
          "{\"step\":2,\"loss\":2.25,\"lr\":0.001,\"tokens\":8192,\"seconds\":0.5}\n"
      )
      assert.strictEqual(
        yield* readText(path.join(runDir, "events.jsonl")),
        "{\"time\":\"2025-01-02T03:04:05.678Z\",\"name\":\"checkpoint.committed\",\"step\":1,\"data\":{\"name\":\"step-1\",\"blobs\":[\"a\",\"b\"]}}\n" +
          "{\"time\":\"2025-01-02T03:04:05.678Z\",\"name\":\"stage.end\",\"step\":2}\n"
      )
    }))

  it.effect("the runner's step comes first and wins over a metric named step; NaN becomes null", () =>
    Effect.gen(function*() {
      const runDir = yield* tempDirectory("jsonl-metrics")
      yield* Effect.scoped(Effect.gen(function*() {
        const sink = yield* makeJsonlMetricsSink(runDir)
        yield* sink.record(7, { loss: Number.NaN, step: 99 })
      }))
      assert.strictEqual(yield* readText(path.join(runDir, "metrics.jsonl")), "{\"step\":7,\"loss\":null}\n")
    }))

  it.effect("appends to the files of an earlier sink, as a resumed run does", () =>
    Effect.gen(function*() {
      const runDir = yield* tempDirectory("jsonl-metrics")
      const recordStep = (step: number) =>
        MetricsSink.use((sink) => sink.record(step, { loss: step })).pipe(Effect.provide(jsonlMetricsSinkLayer(runDir)))
      yield* recordStep(1)
      yield* recordStep(2)
      assert.strictEqual(yield* readText(path.join(runDir, "metrics.jsonl")), "{\"step\":1,\"loss\":1}\n{\"step\":2,\"loss\":2}\n")
    }))

  it.effect("on resume, drops what came after the checkpoint and a line cut short by a crash", () =>
    Effect.gen(function*() {
      const runDir = yield* tempDirectory("jsonl-resume")
      const metrics = path.join(runDir, "metrics.jsonl")
      const events = path.join(runDir, "events.jsonl")
      const lines = (...values: ReadonlyArray<object>) => values.map((v) => `${JSON.stringify(v)}\n`).join("")
      yield* Effect.promise(() => fs.writeFile(metrics, lines({ step: 1 }, { step: 2 }, { step: 3 }, { step: 4 }) + "{\"st"))
      // The next iteration's first stages log step 2 too, after the checkpoint's own event.
      yield* Effect.promise(() =>
        fs.writeFile(events, lines(
          { name: "stage.start", step: 2, data: { stage: "checkpoint" } },
          { name: "checkpoint", step: 2, data: { name: "step-00000002" } },
          { name: "stage.start", step: 2, data: { stage: "next-batch" } },
          { name: "stage.end", step: 3, data: { stage: "train-step" } }
        ))
      )
      yield* Effect.scoped(Effect.gen(function*() {
        const sink = yield* makeJsonlMetricsSink(runDir, { resumeAfter: { step: 2, checkpoint: "step-00000002" } })
        yield* sink.record(3, { loss: 1 })
      }))
      assert.strictEqual(yield* readText(metrics), lines({ step: 1 }, { step: 2 }, { step: 3, loss: 1 }))
      assert.strictEqual(
        yield* readText(events),
        lines({ name: "stage.start", step: 2, data: { stage: "checkpoint" } }, { name: "checkpoint", step: 2, data: { name: "step-00000002" } })
      )
    }))

  it.effect("concurrent records never interleave within a line", () =>
    Effect.gen(function*() {
      const runDir = yield* tempDirectory("jsonl-metrics")
      const steps = Array.from({ length: 200 }, (_, i) => i)
      yield* Effect.scoped(Effect.gen(function*() {
        const sink = yield* makeJsonlMetricsSink(runDir)
        yield* Effect.forEach(steps, (step) => sink.record(step, { loss: step / 3 }), { concurrency: "unbounded" })
      }))
      const lines = (yield* readText(path.join(runDir, "metrics.jsonl"))).split("\n")
      assert.strictEqual(lines.pop(), "")
      const written = lines.map((line) => JSON.parse(line) as { step: number; loss: number })
      assert.deepStrictEqual(written.map((row) => row.step).sort((a, b) => a - b), steps)
      for (const row of written) assert.strictEqual(row.loss, row.step / 3)
    }))

  it.effect("summarize replaces summary.json", () =>
    Effect.gen(function*() {
      const runDir = yield* tempDirectory("jsonl-metrics")
      yield* Effect.scoped(Effect.gen(function*() {
        const sink = yield* makeJsonlMetricsSink(runDir)
        yield* sink.summarize({ finalLoss: 3 })
        yield* sink.summarize({ finalLoss: 1.5, bestStep: 40, seconds: 12.5 })
      }))
      assert.strictEqual(
        yield* readText(path.join(runDir, "summary.json")),
        "{\n  \"finalLoss\": 1.5,\n  \"bestStep\": 40,\n  \"seconds\": 12.5\n}\n"
      )
      assert.deepStrictEqual((yield* Effect.promise(() => fs.readdir(runDir))).sort(), ["events.jsonl", "metrics.jsonl", "summary.json"])
    }))

  it.effect("fails with MetricsError when event data is not JSON", () =>
    Effect.gen(function*() {
      const runDir = yield* tempDirectory("jsonl-metrics")
      const sink = yield* makeJsonlMetricsSink(runDir)
      const failure = yield* Effect.flip(sink.event({ name: "bad", step: 0, data: { big: 1n } }))
      assert.strictEqual(failure._tag, "MetricsError")
      assert.include(failure.message, "JSON")
    }))

  it.effect("fails with MetricsError naming the directory it cannot create", () =>
    Effect.gen(function*() {
      const root = yield* tempDirectory("jsonl-metrics")
      const blocker = path.join(root, "file")
      yield* Effect.promise(() => fs.writeFile(blocker, ""))
      const failure = yield* Effect.flip(Effect.scoped(makeJsonlMetricsSink(path.join(blocker, "run"))))
      assert.strictEqual(failure._tag, "MetricsError")
      assert.include(failure.message, path.join(blocker, "run"))
    }))
})
