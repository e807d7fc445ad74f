import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Schedule } from "effect"
import { chunkBatch, estimateDatumBytes } from "../../../src/adapters/tinker/forward-backward-chunks.js"
import { timingMetrics } from "../../../src/adapters/tinker/request-timings.js"
import { retryAfterMs, retryBackoff, TransientFailure } from "../../../src/adapters/tinker/retry-schedule.js"
import { jsonBody, makeTinkerHttp } from "../../../src/adapters/tinker/tinker-http.js"
import { defaultTinkerBaseUrl, resolveTinkerOptions } from "../../../src/adapters/tinker/tinker-options.js"
import { type Datum, float32, fromInts, int64 } from "../../../src/ports/index.js"
import { type ScriptedReply, startScriptedServer } from "./scripted-server.js"

const timings = { initialBackoffMs: 100, maxBackoffMs: 1_000, giveUpAfterMs: 60_000 }

/** The waits the backoff gives a run of failed tries, each with its reply's headers (none for undefined). */
const backoffWaits = (replies: ReadonlyArray<Headers | undefined>): ReadonlyArray<number> =>
  Effect.runSync(Effect.gen(function*() {
    const step = yield* Schedule.toStep(retryBackoff(timings))
    const waits: Array<number> = []
    for (const headers of replies) {
      const [, delay] = yield* step(0, new TransientFailure({ message: "HTTP 503", headers }))
      waits.push(Duration.toMillis(delay))
    }
    return waits
  }))

// The wait before retry number `retry` (0 for the first), after `retry` failures that asked for none.
const retryDelayMs = (retry: number, headers?: Headers): number =>
  backoffWaits([...Array.from({ length: retry }, () => undefined), headers]).at(-1)!

const datum = (length: number): Datum => ({
  model_input: fromInts(Array.from({ length }, (_, i) => i)),
  loss_fn_inputs: {
    target_tokens: int64(Array.from({ length }, (_, i) => i + 1)),
    weights: float32(Array.from({ length }, () => 1))
  }
})

describe("tinker request helpers", () => {
  it("backs off min(initial * 2^n, max), or as long as the reply asks (retry-after-ms, retry-after)", () => {
    assert.deepStrictEqual([0, 1, 2, 3, 4, 5].map((n) => retryDelayMs(n)), [100, 200, 400, 800, 1000, 1000])
    assert.strictEqual(retryDelayMs(0, new Headers({ "retry-after-ms": "250" })), 250)
    assert.strictEqual(retryDelayMs(3, new Headers({ "retry-after": "2" })), 2000)
    // retry-after-ms wins over retry-after; an HTTP date counts from now.
    assert.strictEqual(retryAfterMs(new Headers({ "retry-after-ms": "7", "retry-after": "9" }), 0), 7)
    const now = Date.parse("2026-01-01T00:00:00Z")
    assert.strictEqual(retryAfterMs(new Headers({ "retry-after": "Thu, 01 Jan 2026 00:00:03 GMT" }), now), 3000)
    // A wait over a minute (or a malformed one) is not trusted: the backoff applies.
    assert.strictEqual(retryDelayMs(1, new Headers({ "retry-after": "3600" })), 200)
    assert.strictEqual(retryDelayMs(1, new Headers({ "retry-after": "soon" })), 200)
    // A run of failures keeps one schedule: the same waits, one after another.
    assert.deepStrictEqual(backoffWaits([undefined, undefined, undefined, undefined, undefined, undefined]), [100, 200, 400, 800, 1000, 1000])
  })

  it("cuts batches at the datum count and the estimated byte size, in order", () => {
    // 10 tokens: 40 bytes of int32 tokens, 80 of int64 targets, 40 of float32 weights.
    assert.strictEqual(estimateDatumBytes(datum(10)), 160)
    const data = Array.from({ length: 7 }, (_, i) => datum(i + 1))
    const byCount = chunkBatch(data, { maxDatums: 3, maxBytes: 1e9 })
    assert.deepStrictEqual(byCount.map((chunk) => chunk.length), [3, 3, 1])
    assert.deepStrictEqual(byCount.flat(), data)
    // 16 bytes per position: lengths 1..7 take 16, 32, ..., 112 bytes.
    const bySize = chunkBatch(data, { maxDatums: 100, maxBytes: 150 })
    assert.deepStrictEqual(bySize.map((chunk) => chunk.map((d) => d.model_input.chunks[0]!.type === "encoded_text" ? d.model_input.chunks[0]!.tokens.length : 0)), [[1, 2, 3], [4, 5], [6], [7]])
    assert.deepStrictEqual(chunkBatch([], { maxDatums: 3, maxBytes: 10 }), [])
  })

  it("sums the timings of a step's requests into remote_* metrics", () => {
    assert.deepStrictEqual(
      timingMetrics([
        { submitMs: 3, waitMs: 10, queueMs: 1, computeMs: 6, retries: 0 },
        { submitMs: 4, waitMs: 20, queueMs: 2, computeMs: 7, retries: 2 }
      ]),
      { remote_submit_ms: 7, remote_wait_ms: 30, remote_queue_ms: 3, remote_compute_ms: 13, remote_retries: 2 }
    )
    // A service that does not report queue and compute time gets no such keys.
    assert.deepStrictEqual(timingMetrics([{ submitMs: 1, waitMs: 2, retries: 1 }]), {
      remote_submit_ms: 1,
      remote_wait_ms: 2,
      remote_retries: 1
    })
  })
})

describe("tinker options", () => {
  it.effect("need a key, and name the variable to set but never a key", () =>
    Effect.gen(function*() {
      const missing = yield* Effect.flip(resolveTinkerOptions({ env: {} }))
      assert.strictEqual(missing._tag, "BackendUnavailableError")
      assert.include(missing.message, "TINKER_API_KEY")
      const custom = yield* Effect.flip(resolveTinkerOptions({ env: { TINKER_API_KEY: "tml-unused" }, apiKeyEnv: "MY_KEY" }))
      assert.include(custom.message, "MY_KEY")
      assert.notInclude(custom.message, "tml-unused")
      const settings = yield* resolveTinkerOptions({ env: { TINKER_API_KEY: "tml-secret" } })
      assert.strictEqual(settings.baseUrl, defaultTinkerBaseUrl)
      assert.notInclude(String(settings.apiKey), "tml-secret")
      assert.notInclude(JSON.stringify(settings), "tml-secret")
      const fromEnv = yield* resolveTinkerOptions({ env: { TINKER_API_KEY: "k", TINKER_BASE_URL: "http://example.test/x/" } })
      assert.strictEqual(fromEnv.baseUrl, "http://example.test/x")
    }))
})

describe("tinker submissions", () => {
  const submitWith = (replies: ReadonlyArray<ScriptedReply>, giveUpAfterMs = 5_000) =>
    Effect.gen(function*() {
      const server = yield* startScriptedServer((_, index) => replies[index] ?? { status: 200, json: { request_id: "r9" } })
      const settings = yield* resolveTinkerOptions({
        baseUrl: server.url,
        apiKey: "tml-submit-secret",
        retry: { initialBackoffMs: 1, maxBackoffMs: 4, giveUpAfterMs },
        billing: { pauseMs: 1 }
      })
      const result = yield* makeTinkerHttp(settings)
        .submit({ endpoint: "/optim_step", body: jsonBody({ seq_id: 1 }) })
        .pipe(Effect.result)
      return { result, requests: server.requests }
    })

  it.live("retry 408, 409, 429, 5xx and dropped connections under one idempotency key, honouring retry-after", () =>
    Effect.gen(function*() {
      const started = Date.now()
      const { result, requests } = yield* submitWith([
        { status: 503, json: { error: "busy" } },
        { status: 429, json: { error: "slow" }, headers: { "retry-after-ms": "120" } },
        "drop",
        { status: 408, json: {} },
        { status: 409, json: {} }
      ])
      assert.strictEqual(result._tag, "Success")
      if (result._tag === "Success") assert.strictEqual(result.success.retries, 5)
      assert.isAtLeast(Date.now() - started, 120)
      assert.strictEqual(requests.length, 6)
      const keys = new Set(requests.map((request) => request.headers["x-idempotency-key"]))
      assert.strictEqual(keys.size, 1)
      assert.match(String([...keys][0]), /^sous-/)
      assert.isTrue(requests.every((request) => request.headers["x-api-key"] === "tml-submit-secret"))
      assert.deepStrictEqual(requests[0]!.json, { seq_id: 1 })
    }))

  it.live("fail at once on other 4xx, naming the endpoint and the server's message, never the key", () =>
    Effect.gen(function*() {
      const invalid = yield* submitWith([{ status: 400, json: { error: "adam_params.learning_rate: expected a number" } }])
      assert.strictEqual(invalid.requests.length, 1)
      assert.strictEqual(invalid.result._tag === "Failure" && invalid.result.failure.kind, "invalid")
      if (invalid.result._tag === "Failure") {
        assert.include(invalid.result.failure.message, "/optim_step")
        assert.include(invalid.result.failure.message, "adam_params.learning_rate: expected a number")
      }
      // A server that echoes the key does not get it into the message.
      const refused = yield* submitWith([{ status: 401, json: { error: "bad key tml-submit-secret" } }])
      assert.strictEqual(refused.result._tag === "Failure" && refused.result.failure.kind, "auth")
      if (refused.result._tag === "Failure") {
        assert.include(refused.result.failure.message, "TINKER_API_KEY")
        assert.include(refused.result.failure.message, "X-API-Key")
        assert.notInclude(refused.result.failure.message, "tml-submit-secret")
      }
      // x-should-retry: false is obeyed even on a status that is otherwise retried.
      const told = yield* submitWith([{ status: 503, json: { error: "no" }, headers: { "x-should-retry": "false" } }])
      assert.strictEqual(told.requests.length, 1)
      assert.strictEqual(told.result._tag, "Failure")
    }))

  it.live("wait out a billing pause (402), and give up on failures that last too long", () =>
    Effect.gen(function*() {
      const paused = yield* submitWith([{ status: 402, json: { error: "unpaid" } }])
      assert.strictEqual(paused.result._tag, "Success")
      assert.strictEqual(paused.requests.length, 2)
      const down = yield* submitWith(Array.from({ length: 10_000 }, () => "drop" as const), 40)
      assert.strictEqual(down.result._tag === "Failure" && down.result.failure.kind, "transient")
      if (down.result._tag === "Failure") assert.include(down.result.failure.message, "/optim_step kept failing")
      // What the HTTP client threw is kept for --verbose.
      if (down.result._tag === "Failure") assert.instanceOf(down.result.failure.cause, Error)
    }))
})
