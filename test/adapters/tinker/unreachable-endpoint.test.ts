import { assert, describe, it } from "@effect/vitest"
import { lookup } from "node:dns/promises"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { Cause, Effect, Schedule } from "effect"
import { pollFuture } from "../../../src/adapters/tinker/future-poller.js"
import { makeTinkerBackend } from "../../../src/adapters/tinker/tinker-backend.js"
import { giveUpOnRefusals, TransientFailure } from "../../../src/adapters/tinker/retry-schedule.js"
import { makeTinkerHttp, unreachableReason } from "../../../src/adapters/tinker/tinker-http.js"
import { resolveTinkerOptions, type TinkerBackendOptions } from "../../../src/adapters/tinker/tinker-options.js"
import { testApiKey } from "./served-backend.js"

// Real sockets, real DNS and fetch's own checks: nothing here is simulated. The retry budget
// is 30 s, so the old behaviour (retrying these errors until the budget ran out) fails the
// "within 20 s" bound; the backoff is the default one (1 s, 2 s, ...) users get.
const options = (baseUrl: string): TinkerBackendOptions => ({ baseUrl, apiKey: testApiKey, retry: { giveUpAfterMs: 30_000 } })
const fastEnoughMs = 20_000

/** A loopback port with nothing listening on it: listened on once, then closed. */
const closedPort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = http.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })

/** Opens a backend on `baseUrl` and returns how it failed and how long that took. */
const openFailing = (baseUrl: string) =>
  Effect.gen(function*() {
    const started = Date.now()
    const error = yield* Effect.flip(makeTinkerBackend(options(baseUrl)))
    return { error, elapsedMs: Date.now() - started }
  }).pipe(Effect.scoped)

/** The messages of `error`'s cause chain, outermost first. */
const causeMessages = (error: unknown): ReadonlyArray<string> => {
  const messages: Array<string> = []
  for (let cause = error; cause instanceof Error && messages.length < 8; cause = cause.cause) messages.push(cause.message)
  return messages
}

// `.invalid` never resolves (RFC 6761), but only a resolver that answers says so (ENOTFOUND);
// a machine with no resolver at all fails every lookup with EAI_AGAIN, which is retried.
const dnsAnswers = await lookup("sous-check.invalid").then(() => false, (error: NodeJS.ErrnoException) => error.code === "ENOTFOUND")

/** What fetch throws when the socket fails with `cause`: its own TypeError wrapping it. */
const fetchFailed = (cause: unknown) => new TypeError("fetch failed", { cause })
const socketError = (code: string) => Object.assign(new Error(`connect ${code}`), { code })

describe("an endpoint that cannot be reached", () => {
  it("is told apart by what fetch threw: only errors no retry mends are final", () => {
    assert.strictEqual(unreachableReason(fetchFailed(socketError("ECONNREFUSED"))), "refused")
    // localhost is tried on ::1 and 127.0.0.1; each refusal comes in one AggregateError.
    const both = new AggregateError([socketError("ECONNREFUSED"), socketError("ECONNREFUSED")], "connect ECONNREFUSED")
    assert.strictEqual(unreachableReason(fetchFailed(both)), "refused")
    const mixed = new AggregateError([socketError("ECONNREFUSED"), socketError("ETIMEDOUT")], "connect")
    assert.strictEqual(unreachableReason(fetchFailed(mixed)), "lost")
    assert.strictEqual(unreachableReason(fetchFailed(new Error("bad port"))), "badPort")
    assert.strictEqual(unreachableReason(fetchFailed(socketError("ENOTFOUND"))), "unknownHost")
    // A resolver that cannot answer now may answer later.
    assert.strictEqual(unreachableReason(fetchFailed(socketError("EAI_AGAIN"))), "lost")
    assert.strictEqual(unreachableReason(fetchFailed(socketError("ECONNRESET"))), "lost")
    // A body cut off mid-reply is a lost connection, not a bad request.
    assert.strictEqual(unreachableReason(new TypeError("terminated")), "lost")
    assert.strictEqual(unreachableReason(new TypeError("Failed to parse URL from http://[x")), "invalidUrl")
    assert.strictEqual(unreachableReason(new DOMException("timed out", "TimeoutError")), "lost")
  })

  it.effect("gives up on the third refusal in a row; any other failure starts the count again", () =>
    Effect.gen(function*() {
      const refused = new TransientFailure({ message: "connect ECONNREFUSED", refused: true })
      const dropped = new TransientFailure({ message: "other side closed" })
      const step = yield* Schedule.toStep(giveUpOnRefusals(3)(Schedule.forever))
      // Whether the schedule asks for another try after each failure in turn.
      const goesOn = (input: TransientFailure) =>
        Effect.match(step(0, input), { onSuccess: () => true, onFailure: (error) => !Cause.isDone(error) })
      const answers: Array<boolean> = []
      for (const input of [refused, refused, dropped, refused, refused, refused]) answers.push(yield* goesOn(input))
      assert.deepStrictEqual(answers, [true, true, true, true, true, false])
    }))

  it.live("fails after a few refused connections, naming the endpoint, with the refusal as the cause", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(closedPort)
      const { error, elapsedMs } = yield* openFailing(`http://127.0.0.1:${port}`)
      assert.isBelow(elapsedMs, fastEnoughMs)
      assert.strictEqual(error._tag, "BackendUnavailableError")
      assert.include(error.message, `http://127.0.0.1:${port}`)
      assert.include(error.message, "refused")
      assert.notInclude(error.message, testApiKey)
      // The request's error, then fetch's, then the socket's: what --verbose shows.
      const chain = causeMessages(error)
      assert.isTrue(chain.some((message) => message.includes("ECONNREFUSED")), chain.join(" <- "))
      assert.strictEqual((error.cause as { kind?: string } | undefined)?.kind, "unreachable")
    }))

  it.live("fails at once on a port fetch refuses to use (\"bad port\")", () =>
    Effect.gen(function*() {
      // 6000 (X11) is on the Fetch standard's list of blocked ports, which undici applies.
      const { error, elapsedMs } = yield* openFailing("http://127.0.0.1:6000")
      assert.isBelow(elapsedMs, fastEnoughMs)
      assert.strictEqual(error._tag, "BackendUnavailableError")
      assert.include(error.message, "http://127.0.0.1:6000")
      assert.include(error.message, "6000")
      assert.isTrue(causeMessages(error).includes("bad port"), causeMessages(error).join(" <- "))
    }))

  it.live.skipIf(!dnsAnswers)("fails at once on a host name DNS does not know (ENOTFOUND)", () =>
    Effect.gen(function*() {
      const { error, elapsedMs } = yield* openFailing("http://sous-check.invalid:8000/base")
      assert.isBelow(elapsedMs, fastEnoughMs)
      assert.strictEqual(error._tag, "BackendUnavailableError")
      assert.include(error.message, "http://sous-check.invalid:8000/base")
      assert.isTrue(causeMessages(error).some((message) => message.includes("ENOTFOUND")), causeMessages(error).join(" <- "))
    }))

  it.effect("refuses a base URL fetch cannot send to, without repeating its secrets", () =>
    Effect.gen(function*() {
      const withPassword = yield* Effect.flip(resolveTinkerOptions(options("http://user:hunter2@127.0.0.1:8000")))
      assert.strictEqual(withPassword._tag, "BackendUnavailableError")
      assert.include(withPassword.message, "http://127.0.0.1:8000")
      assert.notInclude(withPassword.message, "hunter2")
      // Every request path is appended to the base URL, so a query there would swallow it.
      const withQuery = yield* Effect.flip(resolveTinkerOptions(options("http://127.0.0.1:8000/x?token=s3cret#frag")))
      assert.include(withQuery.message, "http://127.0.0.1:8000/x")
      assert.notInclude(withQuery.message, "s3cret")
    }))

  it.live("fails polling a future after a few refused connections instead of for the whole budget", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(closedPort)
      const settings = yield* resolveTinkerOptions(options(`http://127.0.0.1:${port}`))
      const started = Date.now()
      const error = yield* Effect.flip(pollFuture(makeTinkerHttp(settings), {
        requestId: "r1",
        endpoint: "/optim_step",
        requestType: "OptimStep",
        acceptProto: false,
        submitMs: 1
      }))
      assert.isBelow(Date.now() - started, fastEnoughMs)
      assert.strictEqual(error.kind, "unreachable")
      assert.include(error.message, `http://127.0.0.1:${port}`)
      assert.include(error.message, "r1")
    }))

  it.live("still reaches a server that refuses connections for a moment while it starts", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(closedPort)
      const server = http.createServer((_, response) => {
        response.writeHead(200, { "content-type": "application/json" })
        response.end(JSON.stringify({ request_id: "r1" }))
      })
      yield* Effect.addFinalizer(() => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve()))))
      // Nothing listens for the first second (the first try and, under the default backoff of
      // 1 s then 2 s, likely the second are refused); the third try is answered.
      setTimeout(() => server.listen(port, "127.0.0.1"), 1_000)
      const settings = yield* resolveTinkerOptions(options(`http://127.0.0.1:${port}`))
      const submitted = yield* makeTinkerHttp(settings).submit({ endpoint: "/optim_step" })
      assert.strictEqual(submitted.reply.status, 200)
      assert.isAtLeast(submitted.retries, 1)
    }).pipe(Effect.scoped))
})
