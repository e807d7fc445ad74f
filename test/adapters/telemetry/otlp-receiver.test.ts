import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { otlpReceiver } from "../../support/otlp-receiver.js"

// The stand-in must be able to refuse: each malformed payload below is answered 400 with a
// problem naming the field, and nothing of it is recorded.

const now = "1800000000000000000"
const span = {
  traceId: "5b8efff798038103d269b633813fc60c",
  spanId: "eee19b7ec3c1b174",
  name: "sous.stage.train",
  kind: 1,
  startTimeUnixNano: now,
  endTimeUnixNano: now,
  attributes: [{ key: "step", value: { intValue: "3" } }]
}
const traces = (spans: ReadonlyArray<unknown>) => ({
  resourceSpans: [{
    resource: { attributes: [{ key: "service.name", value: { stringValue: "sous" } }] },
    scopeSpans: [{ scope: { name: "effect" }, spans }]
  }]
})
const metrics = (metric: unknown) => ({ resourceMetrics: [{ resource: { attributes: [] }, scopeMetrics: [{ scope: { name: "sous" }, metrics: [metric] }] }] })

const post = (url: string, body: string | Uint8Array, contentType = "application/json") =>
  Effect.promise(async () => {
    const response = await fetch(url, { method: "POST", headers: { "content-type": contentType }, body })
    return { status: response.status, text: await response.text() }
  })

describe("the OTLP receiver stand-in", () => {
  it.live("takes a well-formed JSON payload and reads it back", () =>
    Effect.gen(function*() {
      const receiver = yield* otlpReceiver
      assert.strictEqual((yield* post(`${receiver.url}/v1/traces`, JSON.stringify(traces([span])))).status, 200)
      const point = { timeUnixNano: now, asDouble: 0.5, attributes: [] }
      assert.strictEqual((yield* post(`${receiver.url}/v1/metrics`, JSON.stringify(metrics({ name: "sous.loss", gauge: { dataPoints: [point] } })))).status, 200)
      assert.deepStrictEqual(receiver.spans().map((s) => [s.name, s.attributes, s.resource]), [["sous.stage.train", { step: 3 }, { "service.name": "sous" }]])
      assert.deepStrictEqual(receiver.points("sous.loss").map((p) => p.value), [0.5])
    }))

  it.live("answers 400, naming the field, to a payload that breaks the wire shape", () =>
    Effect.gen(function*() {
      const receiver = yield* otlpReceiver
      const refused = (path: string, payload: unknown) =>
        Effect.map(post(`${receiver.url}${path}`, JSON.stringify(payload)), ({ status, text }) => {
          assert.strictEqual(status, 400)
          return text
        })
      const spanAt = "resourceSpans[0].scopeSpans[0].spans[0]"
      assert.include(yield* refused("/v1/traces", traces([{ ...span, traceId: "5b8efff7" }])), `${spanAt}.traceId: expected 32 lowercase hex digits`)
      assert.include(yield* refused("/v1/traces", traces([{ ...span, spanId: "0000000000000000" }])), `${spanAt}.spanId`)
      assert.include(yield* refused("/v1/traces", traces([{ ...span, parentSpanId: "xyz" }])), `${spanAt}.parentSpanId`)
      assert.include(yield* refused("/v1/traces", traces([{ ...span, startTimeUnixNano: "1800000000000" }])), `${spanAt}.startTimeUnixNano: 1800000000000 ns is before 2001`)
      assert.include(yield* refused("/v1/traces", traces([{ ...span, endTimeUnixNano: 1.5 }])), `${spanAt}.endTimeUnixNano: expected unsigned 64-bit nanoseconds`)
      assert.include(yield* refused("/v1/traces", traces([{ ...span, name: "" }])), `${spanAt}.name`)
      assert.include(yield* refused("/v1/traces", traces([{ ...span, kind: 9 }])), `${spanAt}.kind`)
      assert.include(
        yield* refused("/v1/traces", traces([{ ...span, attributes: [{ key: "step", value: { intValue: "3", stringValue: "3" } }] }])),
        `${spanAt}.attributes[0].value: expected exactly one of`
      )
      assert.include(yield* refused("/v1/traces", traces([{ ...span, attributes: [{ key: "step", value: { doubleValue: "3" } }] }])), `${spanAt}.attributes[0].value.doubleValue`)
      assert.include(yield* refused("/v1/traces", { resourceSpans: {} }), "resourceSpans: expected an array")

      const metricAt = "resourceMetrics[0].scopeMetrics[0].metrics[0]"
      const point = { timeUnixNano: now, asDouble: 1 }
      assert.include(yield* refused("/v1/metrics", metrics({ name: "grad_norm:mean", gauge: { dataPoints: [point] } })), `${metricAt}.name`)
      assert.include(yield* refused("/v1/metrics", metrics({ name: "loss" })), `${metricAt}: expected exactly one kind of data, got none`)
      assert.include(yield* refused("/v1/metrics", metrics({ name: "loss", gauge: { dataPoints: [{ ...point, asInt: "1" }] } })), `${metricAt}.gauge.dataPoints[0]: expected exactly one of asDouble|asInt`)
      assert.include(yield* refused("/v1/metrics", metrics({ name: "loss", gauge: { dataPoints: [] } })), `${metricAt}.gauge.dataPoints: empty`)
      assert.include(yield* refused("/v1/metrics", metrics({ name: "loss", sum: { dataPoints: [point] } })), `${metricAt}.sum.aggregationTemporality`)

      const garbage = yield* post(`${receiver.url}/v1/traces`, new Uint8Array([0x0a, 0xff, 0xff, 0xff]), "application/x-protobuf")
      assert.strictEqual(garbage.status, 400)
      assert.include(garbage.text, "cannot decode the application/x-protobuf body")
      assert.strictEqual((yield* post(`${receiver.url}/v1/traces`, "{}", "text/plain")).status, 415)
      assert.strictEqual((yield* post(`${receiver.url}/v1/logs`, "{}")).status, 404)
      assert.deepStrictEqual(receiver.requests, [])
    }))
})
