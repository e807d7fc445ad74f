import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, References } from "effect"
import { pollFuture } from "../../../src/adapters/tinker/future-poller.js"
import { makeTinkerHttp } from "../../../src/adapters/tinker/tinker-http.js"
import { resolveTinkerOptions, type TinkerBackendOptions } from "../../../src/adapters/tinker/tinker-options.js"
import { type ScriptedReply, type SeenRequest, startScriptedServer } from "./scripted-server.js"

const fastTimings: TinkerBackendOptions = {
  apiKey: "tml-poller-test-key",
  retry: { initialBackoffMs: 2, maxBackoffMs: 10, giveUpAfterMs: 2_000 },
  billing: { pauseMs: 2, maxPauseMs: 1_000 }
}

const done = { status: 200, json: { path: "tinker://m/weights/x", type: "save_weights" } } as const

/** Polls request `r1` on a server that answers the polls with `replies` in turn (then `done`). */
const pollWith = (replies: ReadonlyArray<ScriptedReply>, options: TinkerBackendOptions = {}) =>
  Effect.gen(function*() {
    const server = yield* startScriptedServer((_, index) => replies[index] ?? done)
    const settings = yield* resolveTinkerOptions({ ...fastTimings, ...options, baseUrl: server.url })
    const result = yield* pollFuture(makeTinkerHttp(settings), {
      requestId: "r1",
      endpoint: "/save_weights",
      requestType: "SaveWeights",
      acceptProto: false,
      submitMs: 12
    }).pipe(Effect.result)
    return { result, requests: server.requests }
  })

const polls = (requests: ReadonlyArray<SeenRequest>) => requests.map((request) => request.json)

interface LogLine {
  readonly message: string
  readonly annotations: Readonly<Record<string, unknown>>
}

// Runs `effect` with a logger that captures every line.
const captureLogs = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    const lines: Array<LogLine> = []
    const capture = Logger.make(({ fiber, message }) => {
      lines.push({ message: String(message), annotations: fiber.getRef(References.CurrentLogAnnotations) })
    })
    return effect.pipe(Effect.provide(Logger.layer([capture])), Effect.map((result) => ({ result, lines })))
  })

describe("pollFuture", () => {
  it.live("polls again on try_again, 408 and complete_metadata, and returns the result", () =>
    Effect.gen(function*() {
      const { result, requests } = yield* pollWith([
        { status: 200, json: { type: "try_again", request_id: "r1", queue_state: "active" } },
        { status: 408, json: { type: "try_again", request_id: "r1", queue_state: "paused_capacity" } },
        { status: 200, json: { status: "complete_metadata", response_payload_size: 40 } }
      ])
      assert.strictEqual(result._tag, "Success")
      if (result._tag === "Success") assert.deepStrictEqual(result.success.json, done.json)
      assert.deepStrictEqual(polls(requests), [
        { request_id: "r1", allow_metadata_only: true },
        { request_id: "r1", allow_metadata_only: true },
        { request_id: "r1", allow_metadata_only: true },
        { request_id: "r1", allow_metadata_only: false }
      ])
      assert.isTrue(requests.every((request) => request.endpoint === "/retrieve_future" && request.method === "POST"))
      assert.strictEqual(requests[0]!.headers["x-tinker-request-iteration"], "0")
      assert.strictEqual(requests[0]!.headers["x-tinker-create-promise-roundtrip-time"], "0.012")
      assert.strictEqual(requests[3]!.headers["x-tinker-request-iteration"], "3")
      assert.isUndefined(requests[1]!.headers["x-tinker-create-promise-roundtrip-time"])
      assert.strictEqual(requests[0]!.headers["x-api-key"], "tml-poller-test-key")
      // Every poll is its own request, with its own idempotency key.
      assert.strictEqual(new Set(requests.map((request) => request.headers["x-idempotency-key"])).size, 4)
    }))

  it.live("logs queue-state changes with the endpoint and request id", () =>
    Effect.gen(function*() {
      const { lines } = yield* captureLogs(pollWith([
        { status: 200, json: { type: "try_again", request_id: "r1", queue_state: "active" } },
        { status: 200, json: { type: "try_again", request_id: "r1", queue_state: "active" } },
        { status: 200, json: { type: "try_again", request_id: "r1", queue_state: "paused_rate_limit", queue_state_reason: "too many requests" } },
        { status: 200, json: { type: "try_again", request_id: "r1", queue_state: "active" } }
      ]))
      assert.deepStrictEqual(lines.map((line) => line.message), [
        "tinker: /save_weights queue is paused_rate_limit (too many requests)",
        "tinker: /save_weights queue is active"
      ])
      assert.deepStrictEqual(lines[0]!.annotations, { endpoint: "/save_weights", request_id: "r1" })
    }))

  it.live("waits out a billing pause (402) and then returns the result", () =>
    Effect.gen(function*() {
      const { result, requests } = yield* pollWith([
        { status: 402, json: { error: "payment required" } },
        { status: 402, json: { error: "payment required" } }
      ])
      assert.strictEqual(result._tag, "Success")
      assert.strictEqual(requests.length, 3)
    }))

  it.live("gives up on a billing pause that lasts longer than allowed", () =>
    Effect.gen(function*() {
      const { result } = yield* pollWith(Array.from({ length: 1000 }, () => ({ status: 402, json: { error: "unpaid" } })), {
        billing: { pauseMs: 5, maxPauseMs: 30 }
      })
      assert.strictEqual(result._tag, "Failure")
      if (result._tag === "Failure") {
        assert.strictEqual(result.failure.kind, "failed")
        assert.include(result.failure.message, "paused for billing")
        assert.include(result.failure.message, "unpaid")
      }
    }))

  it.live("tries a bare 400 again at most 3 times", () =>
    Effect.gen(function*() {
      const bare = { status: 400, body: new Uint8Array() } as const
      const recovered = yield* pollWith([bare, bare, bare])
      assert.strictEqual(recovered.result._tag, "Success")
      assert.strictEqual(recovered.requests.length, 4)
      const exhausted = yield* pollWith([bare, bare, bare, bare])
      assert.strictEqual(exhausted.result._tag, "Failure")
      assert.strictEqual(exhausted.requests.length, 4)
    }))

  it.live("polls again after 5xx, 429 and dropped connections", () =>
    Effect.gen(function*() {
      const { result, requests } = yield* pollWith([
        { status: 503, json: { error: "busy" } },
        "drop",
        { status: 429, json: { error: "slow down" } },
        { status: 500, json: { error: "oops" } }
      ])
      assert.strictEqual(result._tag, "Success")
      if (result._tag === "Success") assert.strictEqual(result.success.retries, 4)
      assert.strictEqual(requests.length, 5)
    }))

  it.live("fails as expired on 410, with the category of an error result, and at once on 404", () =>
    Effect.gen(function*() {
      const expired = yield* pollWith([{ status: 410, json: { error: "promise expired" } }])
      assert.strictEqual(expired.result._tag === "Failure" && expired.result.failure.kind, "expired")
      const user = yield* pollWith([{ status: 200, json: { error: "target_tokens is missing", category: "user" } }])
      assert.strictEqual(user.result._tag === "Failure" && user.result.failure.kind, "invalid")
      if (user.result._tag === "Failure") assert.include(user.result.failure.message, "target_tokens is missing")
      const server = yield* pollWith([{ status: 200, json: { error: "worker crashed", category: "server" } }])
      assert.strictEqual(server.result._tag === "Failure" && server.result.failure.kind, "failed")
      const unknown = yield* pollWith([{ status: 404, json: { error: "unknown request_id r1" } }])
      assert.strictEqual(unknown.result._tag === "Failure" && unknown.result.failure.kind, "failed")
      assert.strictEqual(unknown.requests.length, 1)
      if (unknown.result._tag === "Failure") assert.include(unknown.result.failure.message, "unknown request_id r1")
    }))

  it.live("fails on a malformed reply, naming the request and what is wrong", () =>
    Effect.gen(function*() {
      const tryAgain = yield* pollWith([{ status: 200, json: { type: "try_again", request_id: "r1", queue_state: 7 } }])
      assert.strictEqual(tryAgain.result._tag === "Failure" && tryAgain.result.failure.kind, "failed")
      assert.strictEqual(tryAgain.requests.length, 1)
      if (tryAgain.result._tag === "Failure") {
        assert.include(tryAgain.result.failure.message, "/save_weights")
        assert.include(tryAgain.result.failure.message, "request r1")
        assert.include(tryAgain.result.failure.message, "queue_state")
        assert.isDefined(tryAgain.result.failure.cause)
      }
      // A queue state the service adds later is logged, not refused: polling goes on.
      const newState = yield* pollWith([{ status: 200, json: { type: "try_again", request_id: "r1", queue_state: "sleeping" } }])
      assert.isAbove(newState.requests.length, 1)
      const failure = yield* pollWith([{ status: 200, json: { error: 42, category: "user" } }])
      assert.strictEqual(failure.result._tag === "Failure" && failure.result.failure.kind, "failed")
      if (failure.result._tag === "Failure") assert.include(failure.result.failure.message, "request r1")
    }))

  it.live("gives up once polls have failed for longer than allowed", () =>
    Effect.gen(function*() {
      const { result } = yield* pollWith(Array.from({ length: 10_000 }, () => ({ status: 503, json: {} })), {
        retry: { initialBackoffMs: 1, maxBackoffMs: 2, giveUpAfterMs: 50 }
      })
      assert.strictEqual(result._tag === "Failure" && result.failure.kind, "transient")
    }))
})
