import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, type LogLevel, References } from "effect"
import { logMetricsSink } from "../../../src/adapters/metrics/log-metrics-sink.js"

interface LogLine {
  readonly level: LogLevel.LogLevel
  readonly message: unknown
  readonly annotations: Readonly<Record<string, unknown>>
}

// Runs `effect` with a logger that captures every line, debug included.
const captureLogs = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<ReadonlyArray<LogLine>, E> =>
  Effect.suspend(() => {
    const lines: Array<LogLine> = []
    const capture = Logger.make(({ fiber, logLevel, message }) => {
      lines.push({ level: logLevel, message, annotations: fiber.getRef(References.CurrentLogAnnotations) })
    })
    return effect.pipe(
      Effect.provide(Logger.layer([capture])),
      Effect.provideService(References.MinimumLogLevel, "Debug"),
      Effect.as(lines)
    )
  })

describe("logMetricsSink", () => {
  it.effect("logs records at info with the metrics as annotations, events at debug", () =>
    Effect.gen(function*() {
      const lines = yield* captureLogs(Effect.gen(function*() {
        yield* logMetricsSink.record(12, { loss: 2.314159265, lr: 0.0001, tokens: 4096 })
        yield* logMetricsSink.event({ name: "checkpoint.committed", step: 12, data: { name: "step-12" } })
        yield* logMetricsSink.summarize({ finalLoss: 2.3 })
      }))
      assert.deepStrictEqual(lines, [
        {
          level: "Info",
          message: ["step 12 loss=2.3142 lr=0.0001 tokens=4096"],
          annotations: { loss: 2.314159265, lr: 0.0001, tokens: 4096, step: 12 }
        },
        {
          level: "Debug",
          message: ["event checkpoint.committed"],
          annotations: { name: "step-12", event: "checkpoint.committed", step: 12 }
        },
        { level: "Info", message: ["run summary"], annotations: { finalLoss: 2.3 } }
      ])
    }))
})
