import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { MemoryMetrics, memoryMetricsSinkLayer } from "../../../src/adapters/metrics/memory-metrics-sink.js"
import { MetricsSink } from "../../../src/ports/index.js"

describe("memory MetricsSink", () => {
  it.effect("keeps copies of what it was given, readable through MemoryMetrics", () =>
    Effect.gen(function*() {
      const sink = yield* MetricsSink
      const metrics: Record<string, number> = { loss: 1 }
      yield* sink.record(1, metrics)
      metrics["loss"] = 99
      yield* sink.event({ name: "stage.end", step: 1 })
      yield* sink.flush
      const recorded = yield* MemoryMetrics
      assert.deepStrictEqual(yield* recorded.records, [{ step: 1, metrics: { loss: 1 } }])
      assert.deepStrictEqual(yield* recorded.events, [{ name: "stage.end", step: 1 }])
      assert.strictEqual(yield* recorded.flushes, 1)
    }).pipe(Effect.provide(memoryMetricsSinkLayer)))
})
