import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { Effect, type Scope } from "effect"
import protobuf from "protobufjs"

/**
 * A local stand-in for an OpenTelemetry Collector's OTLP/HTTP receiver: `POST /v1/traces` and
 * `POST /v1/metrics`, protobuf (`application/x-protobuf`) or JSON (`application/json`). Each
 * payload is decoded with its own schema (protobufjs, the messages below written from
 * opentelemetry-proto's trace, metrics, common and resource protos) and checked against the
 * OTLP wire shape: ids of 16 and 8 bytes (32 and 16 hex digits in JSON), times as unsigned
 * 64-bit nanoseconds after 2001, span kinds and status codes in range, attributes holding one
 * value each, metrics with one kind of data and data points with one value each. What fails
 * is answered 400 with the problems, one per line, each with its path; what passes is 200
 * `{}` and recorded, its ids turned to hex, its 64-bit integers to decimal strings, as the
 * OTLP JSON mapping writes them. Histograms and summaries are not taken: sous sends none.
 */

const otlpProto = `
syntax = "proto3";
message AnyValue {
  oneof value {
    string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4;
    ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }

message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; string schema_url = 3; }
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; string schema_url = 3; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4; fixed32 flags = 16;
  string name = 5; int32 kind = 6; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9; uint32 dropped_attributes_count = 10;
  message Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
  repeated Event events = 11; uint32 dropped_events_count = 12;
  message Link { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; repeated KeyValue attributes = 4; uint32 dropped_attributes_count = 5; fixed32 flags = 6; }
  repeated Link links = 13; uint32 dropped_links_count = 14;
  Status status = 15;
}
message Status { string message = 2; int32 code = 3; }

message ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
message ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; string schema_url = 3; }
message ScopeMetrics { InstrumentationScope scope = 1; repeated Metric metrics = 2; string schema_url = 3; }
message Metric {
  string name = 1; string description = 2; string unit = 3;
  oneof data { Gauge gauge = 5; Sum sum = 7; bytes histogram = 9; bytes exponential_histogram = 10; bytes summary = 11; }
}
message Gauge { repeated NumberDataPoint data_points = 1; }
message Sum { repeated NumberDataPoint data_points = 1; int32 aggregation_temporality = 2; bool is_monotonic = 3; }
message NumberDataPoint {
  repeated KeyValue attributes = 7; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
  oneof value { double as_double = 4; sfixed64 as_int = 6; }
  uint32 flags = 8;
}
`
const root = protobuf.parse(otlpProto, { keepCase: false }).root
const messages = {
  "/v1/traces": root.lookupType("ExportTraceServiceRequest"),
  "/v1/metrics": root.lookupType("ExportMetricsServiceRequest")
} as const
type SignalPath = keyof typeof messages

// ---- from protobuf to the JSON mapping ----

const hex = (base64: unknown) => typeof base64 === "string" ? Buffer.from(base64, "base64").toString("hex") : base64

// Span and link ids are bytes; the JSON mapping writes them in hex, not base64.
const idsToHex = (value: unknown, key?: string): unknown => {
  if (Array.isArray(value)) return value.map((item) => idsToHex(item))
  if (value === null || typeof value !== "object") return ["traceId", "spanId", "parentSpanId"].includes(key ?? "") ? hex(value) : value
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, idsToHex(v, k)]))
}

const fromProtobuf = (path: SignalPath, body: Buffer): unknown => {
  const type = messages[path]
  const decoded = type.decode(body)
  return idsToHex(type.toObject(decoded, { longs: String, bytes: String, arrays: true }))
}

// ---- the wire shape ----

type Problems = Array<string>
type Json = Record<string, unknown>

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)
const hexId = (digits: number) => new RegExp(`^[0-9a-f]{${digits}}$`)
const zeros = /^0+$/
// 2001-09-09 in nanoseconds: a time before it is seconds or milliseconds sent as nanoseconds.
const earliestNanos = 1_000_000_000_000_000_000n

const uint64 = (value: unknown): bigint | undefined => {
  if (typeof value === "string" && /^\d{1,20}$/.test(value)) return BigInt(value)
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return BigInt(value)
  return undefined
}

const checkArray = (value: unknown, at: string, problems: Problems, each: (item: unknown, at: string) => void) => {
  if (!Array.isArray(value)) return problems.push(`${at}: expected an array, got ${JSON.stringify(value)}`)
  value.forEach((item, index) => each(item, `${at}[${index}]`))
}

const checkTime = (value: unknown, at: string, problems: Problems) => {
  const nanos = uint64(value)
  if (nanos === undefined) problems.push(`${at}: expected unsigned 64-bit nanoseconds, got ${JSON.stringify(value)}`)
  else if (nanos < earliestNanos) problems.push(`${at}: ${nanos} ns is before 2001: not nanoseconds since the epoch`)
}

const valueKinds = ["stringValue", "boolValue", "intValue", "doubleValue", "arrayValue", "kvlistValue", "bytesValue"]

const checkAnyValue = (value: unknown, at: string, problems: Problems): void => {
  if (!isObject(value)) return void problems.push(`${at}: expected an AnyValue object`)
  const kinds = Object.keys(value).filter((key) => valueKinds.includes(key))
  if (kinds.length !== 1 || Object.keys(value).length !== 1) {
    return void problems.push(`${at}: expected exactly one of ${valueKinds.join("|")}, got ${JSON.stringify(value)}`)
  }
  const v = value[kinds[0]!]
  const ok = {
    stringValue: () => typeof v === "string",
    boolValue: () => typeof v === "boolean",
    intValue: () => (typeof v === "string" && /^-?\d{1,19}$/.test(v)) || Number.isSafeInteger(v),
    doubleValue: () => typeof v === "number" || ["NaN", "Infinity", "-Infinity"].includes(v as string),
    arrayValue: () => isObject(v) && (checkArray(v["values"] ?? [], `${at}.arrayValue.values`, problems, (item, itemAt) => checkAnyValue(item, itemAt, problems)), true),
    kvlistValue: () => isObject(v) && (checkAttributes(v["values"] ?? [], `${at}.kvlistValue.values`, problems), true),
    bytesValue: () => typeof v === "string"
  }[kinds[0] as "stringValue"]()
  if (!ok) problems.push(`${at}.${kinds[0]}: ${JSON.stringify(v)} is not a valid ${kinds[0]}`)
}

const checkAttributes = (value: unknown, at: string, problems: Problems) =>
  checkArray(value ?? [], at, problems, (item, itemAt) => {
    if (!isObject(item) || typeof item["key"] !== "string" || item["key"] === "") {
      return void problems.push(`${itemAt}: expected {key, value} with a non-empty key`)
    }
    checkAnyValue(item["value"], `${itemAt}.value`, problems)
  })

const checkResource = (item: Json, at: string, problems: Problems) => {
  if (item["resource"] !== undefined) {
    if (!isObject(item["resource"])) problems.push(`${at}.resource: expected an object`)
    else checkAttributes(item["resource"]["attributes"], `${at}.resource.attributes`, problems)
  }
}

const checkScope = (item: Json, at: string, problems: Problems) => {
  const scope = item["scope"]
  if (scope === undefined) return
  if (!isObject(scope) || (scope["name"] !== undefined && typeof scope["name"] !== "string")) {
    return void problems.push(`${at}.scope: expected {name, version?, attributes?}, got ${JSON.stringify(scope)}`)
  }
  checkAttributes(scope["attributes"], `${at}.scope.attributes`, problems)
}

const checkSpan = (span: unknown, at: string, problems: Problems) => {
  if (!isObject(span)) return void problems.push(`${at}: expected a span object`)
  const id = (key: string, digits: number, required: boolean) => {
    const value = span[key]
    if ((value === undefined || value === "") && !required) return
    if (typeof value !== "string" || !hexId(digits).test(value) || zeros.test(value)) {
      problems.push(`${at}.${key}: expected ${digits} lowercase hex digits, not all zero, got ${JSON.stringify(value)}`)
    }
  }
  id("traceId", 32, true)
  id("spanId", 16, true)
  id("parentSpanId", 16, false)
  if (typeof span["name"] !== "string" || span["name"] === "") problems.push(`${at}.name: expected a non-empty string`)
  if (!Number.isInteger(span["kind"] ?? 0) || (span["kind"] as number) < 0 || (span["kind"] as number) > 5) {
    problems.push(`${at}.kind: expected a SpanKind 0..5, got ${JSON.stringify(span["kind"])}`)
  }
  checkTime(span["startTimeUnixNano"], `${at}.startTimeUnixNano`, problems)
  checkTime(span["endTimeUnixNano"], `${at}.endTimeUnixNano`, problems)
  const [start, end] = [uint64(span["startTimeUnixNano"]), uint64(span["endTimeUnixNano"])]
  if (start !== undefined && end !== undefined && end < start) problems.push(`${at}: ends before it starts`)
  checkAttributes(span["attributes"], `${at}.attributes`, problems)
  checkArray(span["events"] ?? [], `${at}.events`, problems, (event, eventAt) => {
    if (!isObject(event)) return void problems.push(`${eventAt}: expected an event object`)
    checkTime(event["timeUnixNano"], `${eventAt}.timeUnixNano`, problems)
    checkAttributes(event["attributes"], `${eventAt}.attributes`, problems)
  })
  const status = span["status"]
  if (status !== undefined && (!isObject(status) || ![undefined, 0, 1, 2].includes(status["code"] as number))) {
    problems.push(`${at}.status: expected {code: 0..2, message?}, got ${JSON.stringify(status)}`)
  }
}

const checkTraces = (body: unknown, problems: Problems) => {
  if (!isObject(body)) return void problems.push("expected an ExportTraceServiceRequest object")
  checkArray(body["resourceSpans"], "resourceSpans", problems, (resourceSpans, at) => {
    if (!isObject(resourceSpans)) return void problems.push(`${at}: expected an object`)
    checkResource(resourceSpans, at, problems)
    checkArray(resourceSpans["scopeSpans"], `${at}.scopeSpans`, problems, (scopeSpans, scopeAt) => {
      if (!isObject(scopeSpans)) return void problems.push(`${scopeAt}: expected an object`)
      checkScope(scopeSpans, scopeAt, problems)
      checkArray(scopeSpans["spans"], `${scopeAt}.spans`, problems, (span, spanAt) => checkSpan(span, spanAt, problems))
    })
  })
}

// The OpenTelemetry instrument name syntax.
const instrumentName = /^[A-Za-z][A-Za-z0-9_.\-/]{0,254}$/

const checkDataPoints = (data: unknown, at: string, problems: Problems) => {
  if (!isObject(data)) return void problems.push(`${at}: expected an object`)
  checkArray(data["dataPoints"], `${at}.dataPoints`, problems, (point, pointAt) => {
    if (!isObject(point)) return void problems.push(`${pointAt}: expected a data point object`)
    checkTime(point["timeUnixNano"], `${pointAt}.timeUnixNano`, problems)
    if (point["startTimeUnixNano"] !== undefined) checkTime(point["startTimeUnixNano"], `${pointAt}.startTimeUnixNano`, problems)
    const asDouble = point["asDouble"]
    const asInt = point["asInt"]
    if ((asDouble === undefined) === (asInt === undefined)) problems.push(`${pointAt}: expected exactly one of asDouble|asInt`)
    if (asDouble !== undefined && typeof asDouble !== "number" && !["NaN", "Infinity", "-Infinity"].includes(asDouble as string)) {
      problems.push(`${pointAt}.asDouble: ${JSON.stringify(asDouble)} is not a double`)
    }
    if (asInt !== undefined && !(typeof asInt === "string" && /^-?\d{1,19}$/.test(asInt)) && !Number.isSafeInteger(asInt)) {
      problems.push(`${pointAt}.asInt: ${JSON.stringify(asInt)} is not a 64-bit integer`)
    }
    checkAttributes(point["attributes"], `${pointAt}.attributes`, problems)
  })
  if (Array.isArray(data["dataPoints"]) && data["dataPoints"].length === 0) problems.push(`${at}.dataPoints: empty`)
}

const checkMetrics = (body: unknown, problems: Problems) => {
  if (!isObject(body)) return void problems.push("expected an ExportMetricsServiceRequest object")
  checkArray(body["resourceMetrics"], "resourceMetrics", problems, (resourceMetrics, at) => {
    if (!isObject(resourceMetrics)) return void problems.push(`${at}: expected an object`)
    checkResource(resourceMetrics, at, problems)
    checkArray(resourceMetrics["scopeMetrics"], `${at}.scopeMetrics`, problems, (scopeMetrics, scopeAt) => {
      if (!isObject(scopeMetrics)) return void problems.push(`${scopeAt}: expected an object`)
      checkScope(scopeMetrics, scopeAt, problems)
      checkArray(scopeMetrics["metrics"], `${scopeAt}.metrics`, problems, (metric, metricAt) => {
        if (!isObject(metric)) return void problems.push(`${metricAt}: expected a metric object`)
        if (typeof metric["name"] !== "string" || !instrumentName.test(metric["name"])) {
          problems.push(`${metricAt}.name: ${JSON.stringify(metric["name"])} is not a valid instrument name`)
        }
        const kinds = ["gauge", "sum", "histogram", "exponentialHistogram", "summary"].filter((kind) => metric[kind] !== undefined)
        if (kinds.length !== 1) return void problems.push(`${metricAt}: expected exactly one kind of data, got ${kinds.join(", ") || "none"}`)
        if (kinds[0] !== "gauge" && kinds[0] !== "sum") return void problems.push(`${metricAt}: ${kinds[0]} is not taken here`)
        checkDataPoints(metric[kinds[0]], `${metricAt}.${kinds[0]}`, problems)
        const sum = metric["sum"]
        if (isObject(sum) && ![1, 2].includes(sum["aggregationTemporality"] as number)) {
          problems.push(`${metricAt}.sum.aggregationTemporality: expected 1 (delta) or 2 (cumulative)`)
        }
      })
    })
  })
}

// ---- what the tests read ----

/** An attribute list as a plain record: each value as a string, number or boolean (arrays as arrays). */
export const attributeRecord = (attributes: unknown): Record<string, unknown> => {
  const value = (any: Json): unknown =>
    "intValue" in any ? Number(any["intValue"]) :
    "arrayValue" in any ? ((any["arrayValue"] as Json)["values"] as Array<Json> ?? []).map(value) :
    Object.values(any)[0]
  return Object.fromEntries((attributes as Array<Json> ?? []).map((kv) => [kv["key"], value(kv["value"] as Json)]))
}

/** A span as received, with its resource's and its own attributes as records. */
export interface ReceivedSpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string | undefined
  readonly name: string
  readonly kind: number
  readonly startTimeUnixNano: string
  readonly endTimeUnixNano: string
  readonly attributes: Record<string, unknown>
  readonly resource: Record<string, unknown>
}

/** A gauge or sum data point as received. */
export interface ReceivedPoint {
  readonly value: number
  readonly timeUnixNano: string
  readonly attributes: Record<string, unknown>
  readonly resource: Record<string, unknown>
}

/** An accepted request: its signal, headers and payload in the JSON mapping. */
export interface ReceivedRequest {
  readonly path: SignalPath
  readonly contentType: string
  readonly headers: http.IncomingHttpHeaders
  readonly body: Json
}

/** A running stand-in receiver. */
export interface OtlpReceiver {
  /** Base URL, `http://127.0.0.1:<port>`: the tracker's `endpoint`. */
  readonly url: string
  /** Accepted requests, in order. */
  readonly requests: ReadonlyArray<ReceivedRequest>
  /** Refused requests: their path, status and problems. */
  readonly rejected: ReadonlyArray<{ readonly path: string; readonly status: number; readonly problems: ReadonlyArray<string> }>
  /** Every span of every accepted trace request, in order. */
  readonly spans: () => ReadonlyArray<ReceivedSpan>
  /** Every data point of the metric `name`, in order. */
  readonly points: (name: string) => ReadonlyArray<ReceivedPoint>
}

const readBody = (request: http.IncomingMessage) =>
  new Promise<Buffer>((resolve, reject) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => resolve(Buffer.concat(chunks)))
    request.on("error", reject)
  })

const decode = (path: SignalPath, contentType: string, body: Buffer): { readonly body?: Json; readonly problems: Problems } => {
  let decoded: unknown
  try {
    decoded = contentType === "application/json" ? JSON.parse(body.toString("utf8")) : fromProtobuf(path, body)
  } catch (error) {
    return { problems: [`cannot decode the ${contentType} body: ${(error as Error).message}`] }
  }
  const problems: Problems = []
  if (path === "/v1/traces") checkTraces(decoded, problems)
  else checkMetrics(decoded, problems)
  return { body: decoded as Json, problems }
}

/** Starts the receiver on 127.0.0.1, a free port; it stops when the scope closes. */
export const otlpReceiver: Effect.Effect<OtlpReceiver, never, Scope.Scope> = Effect.gen(function*() {
  const requests: Array<ReceivedRequest> = []
  const rejected: Array<{ path: string; status: number; problems: Array<string> }> = []
  const refuse = (response: http.ServerResponse, path: string, status: number, problems: Array<string>) => {
    rejected.push({ path, status, problems })
    response.writeHead(status, { "content-type": "text/plain" }).end(problems.join("\n"))
  }
  const server = http.createServer((request, response) => {
    const path = request.url ?? ""
    void readBody(request).then((body) => {
      if (path !== "/v1/traces" && path !== "/v1/metrics") return refuse(response, path, 404, [`no ${path} here`])
      if (request.method !== "POST") return refuse(response, path, 405, [`${request.method} is not POST`])
      const contentType = (request.headers["content-type"] ?? "").split(";")[0]!.trim()
      if (contentType !== "application/x-protobuf" && contentType !== "application/json") {
        return refuse(response, path, 415, [`content-type ${contentType} is neither application/x-protobuf nor application/json`])
      }
      const decoded = decode(path, contentType, body)
      if (decoded.problems.length > 0 || decoded.body === undefined) return refuse(response, path, 400, decoded.problems)
      requests.push({ path, contentType, headers: request.headers, body: decoded.body })
      response.writeHead(200, { "content-type": contentType }).end(contentType === "application/json" ? "{}" : "")
    })
  })
  yield* Effect.acquireRelease(
    Effect.callback<void>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.void))),
    // fetch keeps its connections alive: close them, or close() waits for them.
    () => Effect.callback<void>((resume) => {
      server.closeAllConnections()
      server.close(() => resume(Effect.void))
    })
  )
  const { port } = server.address() as AddressInfo

  // Each item of the innermost lists (spans, metrics), with its resource's attributes.
  const items = (path: SignalPath, outer: string, middle: string, inner: string) =>
    requests.filter((request) => request.path === path).flatMap((request) =>
      (request.body[outer] as Array<Json>).flatMap((resourceItems) => {
        const resource = attributeRecord((resourceItems["resource"] as Json | undefined)?.["attributes"])
        return (resourceItems[middle] as Array<Json>).flatMap((scopeItems) =>
          (scopeItems[inner] as Array<Json>).map((item) => ({ item, resource }))
        )
      })
    )

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    rejected,
    spans: () =>
      items("/v1/traces", "resourceSpans", "scopeSpans", "spans").map(({ item, resource }) => ({
        traceId: item["traceId"] as string,
        spanId: item["spanId"] as string,
        parentSpanId: item["parentSpanId"] === "" ? undefined : item["parentSpanId"] as string | undefined,
        name: item["name"] as string,
        kind: item["kind"] as number,
        startTimeUnixNano: String(item["startTimeUnixNano"]),
        endTimeUnixNano: String(item["endTimeUnixNano"]),
        attributes: attributeRecord(item["attributes"]),
        resource
      })),
    points: (name) =>
      items("/v1/metrics", "resourceMetrics", "scopeMetrics", "metrics")
        .filter(({ item }) => item["name"] === name)
        .flatMap(({ item, resource }) =>
          (((item["gauge"] ?? item["sum"]) as Json)["dataPoints"] as Array<Json>).map((point) => ({
            value: point["asDouble"] !== undefined ? Number(point["asDouble"]) : Number(point["asInt"]),
            timeUnixNano: String(point["timeUnixNano"]),
            attributes: attributeRecord(point["attributes"]),
            resource
          }))
        )
  }
})
