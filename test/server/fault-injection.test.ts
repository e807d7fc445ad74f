import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TrainingBackend } from "../../src/ports/index.js"
import { type FaultOptions, type RequestLogEntry } from "../../src/server/index.js"
import { makeFaultPlan } from "../../src/server/fault-injection.js"
import {
  adam,
  type Answer,
  apiKey,
  batch,
  postForwardBackward,
  postJson,
  request,
  testServer,
  tinyArchitecture,
  withBackend
} from "./fixtures.js"

const rates: FaultOptions = { rate5xx: 0.1, rate429: 0.1, rate408: 0.1, rate410: 0.1, rateDrop: 0.05 }

/** A request whose connection may be cut: status 0 then. */
const tolerant = (attempt: Effect.Effect<Answer>): Effect.Effect<Answer> =>
  Effect.catchDefect(attempt, () => Effect.succeed({ status: 0, headers: new Headers(), bytes: new Uint8Array(), text: "", json: undefined }))

type Server = Parameters<typeof request>[0]

/** The statuses of `count` capability reads, one after another. */
const statuses = (server: Server, count: number) =>
  Effect.forEach(Array.from({ length: count }), () =>
    Effect.map(tolerant(request(server, "/get_server_capabilities", { method: "GET" })), (answer) => answer.status))

/** Sends a submission until it is answered, with one idempotency key, as a client's retries do. */
const submit = (send: (headers: Record<string, string>) => Effect.Effect<Answer>, key: string): Effect.Effect<Answer> =>
  Effect.gen(function*() {
    while (true) {
      const answer = yield* tolerant(send({ "x-idempotency-key": key }))
      if (answer.status === 200) return answer
    }
  })

/** Submits and polls to the end; a 410 poll resubmits under the same key and polls the future it gets. */
const run = (server: Server, send: (headers: Record<string, string>) => Effect.Effect<Answer>, key: string) =>
  Effect.gen(function*() {
    let future = (yield* submit(send, key)).json.request_id as string
    while (true) {
      const poll = yield* tolerant(postJson(server, "/retrieve_future", { request_id: future }))
      if (poll.status === 410) future = (yield* submit(send, key)).json.request_id
      else if (poll.status === 200 && poll.json.type !== "try_again") return poll.json
    }
  })

describe("sous serve: fault injection", () => {
  it("draws faults at the configured rates, the same for the same seed", () => {
    const plan = makeFaultPlan({ ...rates, seed: 42 })
    const counts = { "503": 0, "429": 0, "408": 0, "410": 0, drop: 0, none: 0, after: 0 }
    const n = 100_000
    for (let ordinal = 0; ordinal < n; ordinal++) {
      const fault = plan.decide(ordinal, { poll: true, submission: true })
      counts[fault?.kind ?? "none"] += 1
      if (fault?.timing === "after") counts.after += 1
    }
    for (const kind of ["503", "429", "408", "410"] as const) assert.approximately(counts[kind] / n, 0.1, 0.005)
    assert.approximately(counts.drop / n, 0.05, 0.005)
    // Submissions are hit after being applied about half of the time.
    assert.approximately(counts.after / (n - counts.none), 0.5, 0.01)
    const again = makeFaultPlan({ ...rates, seed: 42 })
    const other = makeFaultPlan({ ...rates, seed: 43 })
    const draws = (p: typeof plan) => Array.from({ length: 200 }, (_, i) => JSON.stringify(p.decide(i, { poll: false, submission: true }) ?? null))
    assert.deepStrictEqual(draws(again), draws(plan))
    assert.notDeepEqual(draws(other), draws(plan))
    // 410 hits polls only, and a request that changes nothing is only ever hit before it runs.
    for (let ordinal = 0; ordinal < 2000; ordinal++) {
      const read = plan.decide(ordinal, { poll: false, submission: false })
      assert.notStrictEqual(read?.kind, "410")
      assert.notStrictEqual(read?.timing, "after")
    }
    // A poll of a training result (kept until retrieved) gets a 408 where any other poll gets a 410.
    for (let ordinal = 0; ordinal < 2000; ordinal++) {
      const polled = plan.decide(ordinal, { poll: true, submission: false })
      const kept = plan.decide(ordinal, { poll: true, submission: false, kept: true })
      assert.deepStrictEqual(kept, polled?.kind === "410" ? { kind: "408", timing: "before" } : polled)
    }
    assert.throws(() => makeFaultPlan({ rate5xx: 0.7, rate429: 0.7 }), "the fault rates add up to 1.4, more than 1")
    assert.throws(() => makeFaultPlan({ rateDrop: -0.1 }), "faults.rateDrop must be in [0, 1], got -0.1")
  })

  it.live("answers injected faults deterministically per seed, and counts them", () =>
    withBackend(Effect.gen(function*() {
      const options = { ...rates, seed: 42 }
      const first = yield* testServer({ faults: options })
      const second = yield* testServer({ faults: options })
      const reseeded = yield* testServer({ faults: { ...options, seed: 43 } })
      const a = yield* statuses(first, 200)
      assert.deepStrictEqual(yield* statuses(second, 200), a)
      assert.notDeepEqual(yield* statuses(reseeded, 200), a)
      // Exactly the plan's draws: capability reads are never hit by 410 nor after running.
      const plan = makeFaultPlan(options)
      const planned = Array.from({ length: 200 }, (_, i) => {
        const kind = plan.decide(i, { poll: false, submission: false })?.kind
        return kind === undefined ? 200 : kind === "drop" ? 0 : Number(kind)
      })
      assert.deepStrictEqual(a, planned)
      const count = (status: number) => a.filter((s) => s === status).length
      const stats = first.stats()
      assert.deepStrictEqual(stats.faultsByKind, { "503": count(503), "429": count(429), "408": count(408), "410": 0, drop: count(0) })
      assert.strictEqual(stats.faults, 200 - count(200))
      assert.strictEqual(stats.requests, 200)
      // Roughly the configured shares (the 410 share passes unharmed here).
      assert.isAtLeast(count(200), 200 * 0.55)
      assert.isAtMost(count(200), 200 * 0.8)
      // /healthz is never hit.
      for (let i = 0; i < 20; i++) assert.strictEqual((yield* request(first, "/healthz", { method: "GET" })).status, 200)
    })))

  it.live("shapes each fault as the protocol's clients expect", () =>
    withBackend(Effect.gen(function*() {
      const sent = (faults: FaultOptions) =>
        Effect.flatMap(testServer({ faults }), (server) => postJson(server, "/retrieve_future", { request_id: "r-1" }))
      const unavailable = yield* sent({ rate5xx: 1 })
      assert.strictEqual(unavailable.status, 503)
      assert.deepStrictEqual(unavailable.json, { error: "injected fault: the server is unavailable, try again" })
      const limited = yield* sent({ rate429: 1 })
      assert.strictEqual(limited.status, 429)
      assert.strictEqual(limited.headers.get("retry-after-ms"), "50")
      const timeout = yield* sent({ rate408: 1 })
      assert.strictEqual(timeout.status, 408)
      assert.deepStrictEqual(timeout.json, { type: "try_again", request_id: "r-1", queue_state: "active" })
      const expired = yield* sent({ rate410: 1 })
      assert.strictEqual(expired.status, 410)
      const dropped = yield* Effect.exit(sent({ rateDrop: 1 }))
      assert.strictEqual(dropped._tag, "Failure")
      const slow = yield* testServer({ faults: { latencyMs: 150 } })
      const started = Date.now()
      assert.strictEqual((yield* request(slow, "/get_server_capabilities", { method: "GET" })).status, 200)
      assert.isAtLeast(Date.now() - started, 140)
    })))

  it.live("applies each request exactly once when replies are lost after it was applied", () =>
    withBackend(Effect.gen(function*() {
      const entries: Array<RequestLogEntry> = []
      const server = yield* testServer({
        faults: { rate5xx: 0.15, rate429: 0.1, rate408: 0.1, rate410: 0.1, rateDrop: 0.1, seed: 5 },
        log: (entry) => entries.push(entry)
      })
      const sessionId = (yield* submit((h) => postJson(server, "/create_session", { tags: [], sdk_version: "t" }, h), "session")).json
        .session_id as string
      const created = yield* run(server, (h) =>
        postJson(server, "/create_model", {
          session_id: sessionId,
          model_seq_id: 0,
          base_model: "tiny",
          user_metadata: { sous: { architecture: tinyArchitecture, seed: 7 } }
        }, h), "model")
      const modelId = created.model_id as string
      const losses: Array<number> = []
      let seq = 0
      for (let step = 0; step < 4; step++) {
        const fbSeq = ++seq
        const fb = yield* run(server, (h) => postForwardBackward(server, { model_id: modelId, seq_id: fbSeq }, h), `fb-${fbSeq}`)
        losses.push(fb.metrics["loss:sum"])
        const stepSeq = ++seq
        yield* run(server, (h) => postJson(server, "/optim_step", { model_id: modelId, seq_id: stepSeq, adam_params: adam() }, h), `step-${stepSeq}`)
      }
      // The same four steps without faults, in process.
      const backend = yield* TrainingBackend
      const client = yield* backend.createTrainingClient({ baseModel: "tiny", architecture: tinyArchitecture, seed: 7 })
      const expected: Array<number> = []
      for (let step = 0; step < 4; step++) {
        expected.push((yield* (yield* client.forwardBackward(batch, "cross_entropy")).result).metrics["loss:sum"]!)
        yield* (yield* client.optimStep(adam())).result
      }
      assert.deepStrictEqual(losses, expected)
      assert.deepStrictEqual(server.stats().optimizerStepsByModel, { [modelId]: 4 })
      // Some submissions were applied and their answers lost, and still nothing ran twice.
      const lostAfterApplying = entries.filter((e) => e.faultTiming === "after" && (e.path.endsWith("/optim_step") || e.path.endsWith("/forward_backward")))
      assert.isAbove(lostAfterApplying.length, 0)
      assert.strictEqual(server.stats().faults, entries.filter((e) => e.fault !== undefined).length)
      assert.notInclude(JSON.stringify(entries), apiKey)
    })))
})
