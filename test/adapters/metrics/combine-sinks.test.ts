import * as fs from "node:fs/promises"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { combinedMetricsSinkLayer, combineSinks } from "../../../src/adapters/metrics/combine-sinks.js"
import { jsonlMetricsSinkLayer } from "../../../src/adapters/metrics/jsonl-metrics-sink.js"
import { makeMemoryMetricsSink } from "../../../src/adapters/metrics/memory-metrics-sink.js"
import { MetricsError, MetricsSink } from "../../../src/ports/index.js"
import { tempDirectory } from "../../support/temp-directory.js"

// A sink whose every call fails, as a remote tracking service that is down would.
const brokenSink = (message: string): MetricsSink["Service"] =>
  MetricsSink.of({
    record: () => Effect.fail(new MetricsError({ message })),
    event: () => Effect.fail(new MetricsError({ message })),
    summarize: () => Effect.fail(new MetricsError({ message })),
    flush: Effect.fail(new MetricsError({ message }))
  })

describe("combineSinks", () => {
  it.effect("forwards every call to every sink", () =>
    Effect.gen(function*() {
      const first = yield* makeMemoryMetricsSink
      const second = yield* makeMemoryMetricsSink
      const sink = combineSinks([first.sink, second.sink])
      yield* sink.record(3, { loss: 1.25 })
      yield* sink.event({ name: "stage.start", step: 3, data: { stage: "train" } })
      yield* sink.summarize({ finalLoss: 1.25 })
      yield* sink.flush
      for (const memory of [first, second]) {
        assert.deepStrictEqual(yield* memory.recorded.records, [{ step: 3, metrics: { loss: 1.25 } }])
        assert.deepStrictEqual(yield* memory.recorded.events, [{ name: "stage.start", step: 3, data: { stage: "train" } }])
        assert.deepStrictEqual(yield* memory.recorded.summaries, [{ finalLoss: 1.25 }])
        assert.strictEqual(yield* memory.recorded.flushes, 1)
      }
    }))

  it.effect("a failing sink does not stop the others, and its error is reported", () =>
    Effect.gen(function*() {
      const memory = yield* makeMemoryMetricsSink
      const sink = combineSinks([brokenSink("tracker is down"), memory.sink])
      const failure = yield* Effect.flip(sink.record(1, { loss: 2 }))
      assert.strictEqual(failure.message, "tracker is down")
      assert.deepStrictEqual(yield* memory.recorded.records, [{ step: 1, metrics: { loss: 2 } }])
    }))

  it.effect("several failures are reported together", () =>
    Effect.gen(function*() {
      const sink = combineSinks([brokenSink("first down"), brokenSink("second down")])
      const failure = yield* Effect.flip(sink.flush)
      assert.strictEqual(failure.message, "first down; second down")
    }))

  it.effect("no sinks at all is a sink that accepts everything", () =>
    Effect.gen(function*() {
      const sink = combineSinks([])
      yield* sink.record(1, { loss: 1 })
      yield* sink.flush
    }))

  it.effect("combinedMetricsSinkLayer builds each layer and writes through all of them", () =>
    Effect.gen(function*() {
      const root = yield* tempDirectory("combine-sinks")
      const [dirA, dirB] = [path.join(root, "a"), path.join(root, "b")]
      yield* MetricsSink.use((sink) => sink.record(5, { loss: 0.5 })).pipe(
        Effect.provide(combinedMetricsSinkLayer([jsonlMetricsSinkLayer(dirA), jsonlMetricsSinkLayer(dirB)]))
      )
      for (const dir of [dirA, dirB]) {
        const text = yield* Effect.promise(() => fs.readFile(path.join(dir, "metrics.jsonl"), "utf8"))
        assert.strictEqual(text, "{\"step\":5,\"loss\":0.5}\n")
      }
    }))
})
