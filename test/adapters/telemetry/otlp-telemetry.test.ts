import { assert, describe, it } from "@effect/vitest"
import { type Duration, Effect, Logger, type LogLevel, References } from "effect"
import { OtlpTelemetry, otlpTelemetryLayer } from "../../../src/adapters/telemetry/otlp-telemetry.js"
import { otlpReceiver } from "../../support/otlp-receiver.js"

interface LogLine {
  readonly level: LogLevel.LogLevel
  readonly message: string
  readonly annotations: Readonly<Record<string, unknown>>
}

// A span and a step's metrics sent through the layer to `endpoint`, every log line captured.
// With an `exportInterval`, the export happens during the effect (from the exporters' own
// fibers), else when the layer is released.
const sendThrough = (endpoint: string, exportInterval?: Duration.Input) =>
  Effect.gen(function*() {
    const lines: Array<LogLine> = []
    const capture = Logger.make(({ fiber, logLevel, message }) => {
      const text = (Array.isArray(message) ? message : [message]).map(String).join(" ")
      lines.push({ level: logLevel, message: text, annotations: fiber.getRef(References.CurrentLogAnnotations) })
    })
    yield* Effect.gen(function*() {
      const telemetry = yield* OtlpTelemetry
      yield* telemetry.metricsSink({ "sous.run.id": "r1" }).record(1, { loss: 2.5, "grad_norm:mean": 1 })
      yield* Effect.sleep("1 millis").pipe(Effect.withSpan("sous.stage.train", { attributes: { step: 1 } }))
      if (exportInterval !== undefined) yield* Effect.sleep("300 millis")
    }).pipe(
      Effect.provide(otlpTelemetryLayer({ endpoint, serviceName: "sous-test", ...(exportInterval === undefined ? {} : { exportInterval }) })),
      Effect.provide(Logger.layer([capture]))
    )
    return lines
  })

describe("otlpTelemetryLayer", () => {
  it.live("sends what it holds when released, before the run's effect resolves", () =>
    Effect.gen(function*() {
      const receiver = yield* otlpReceiver
      const lines = yield* sendThrough(`${receiver.url}/`)
      assert.deepStrictEqual(lines, [])
      assert.deepStrictEqual(receiver.spans().map((span) => [span.name, span.attributes, span.resource["service.name"]]), [
        ["sous.stage.train", { step: 1 }, "sous-test"]
      ])
      assert.deepStrictEqual(receiver.points("sous.loss").map((point) => [point.value, point.attributes]), [[2.5, { "sous.run.id": "r1" }]])
      assert.deepStrictEqual(receiver.points("sous.grad_norm_mean").map((point) => point.value), [1])
      assert.deepStrictEqual(receiver.points("sous.step").map((point) => point.value), [1])
    }))

  it.live("warns once when the collector refuses the data, naming the tracker and the answer", () =>
    Effect.gen(function*() {
      const receiver = yield* otlpReceiver
      const lines = yield* sendThrough(`${receiver.url}/nothing-here`, "20 millis")
      // Both signals were refused (404), during the effect: one line says so.
      assert.deepStrictEqual(receiver.rejected.map((rejected) => rejected.status), [404, 404])
      assert.strictEqual(lines.length, 1, lines.map((line) => line.message).join("\n"))
      assert.strictEqual(lines[0]!.level, "Warn")
      // sous's warning, not the exporter's: none of its `@effect/opentelemetry` annotations.
      assert.deepStrictEqual(lines[0]!.annotations, {})
      assert.match(
        lines[0]!.message,
        new RegExp(`^otlp tracker at ${receiver.url}/nothing-here answered HTTP 404 to POST /nothing-here/v1/(traces|metrics); the run goes on without it$`)
      )
    }))

  it.live("never names a password the endpoint holds (fetch refuses such a URL, quoting it)", () =>
    Effect.gen(function*() {
      const receiver = yield* otlpReceiver
      const lines = yield* sendThrough(receiver.url.replace("http://", "http://user:pa55word@"))
      assert.strictEqual(lines.length, 1)
      assert.notInclude(lines[0]!.message, "pa55word")
      assert.include(lines[0]!.message, `otlp tracker at ${receiver.url} `)
    }))
})
