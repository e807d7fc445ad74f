import * as http from "node:http"
import * as net from "node:net"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, type Scope } from "effect"
import type { SqlClient } from "effect/sql"
import { runsDatabaseLayers } from "../../../src/durable/database.js"
import {
  enqueueWebhookEvent,
  ensureWebhookTables,
  listDeadLetters,
  listWebhookEvents,
  newWebhookSecret,
  replayDeadLetter,
  runWebhookDispatcher,
  verifyWebhook,
  type WebhookDispatcherOptions,
  type WebhookEndpoint
} from "../../../src/jobs/webhooks/index.js"
import { tempDirectory } from "../../support/temp-directory.js"

/** One request a receiver got, and what it answered (`undefined`: it never answered). */
interface Received {
  readonly headers: http.IncomingHttpHeaders
  readonly path: string
  readonly body: string
  readonly status: number | undefined
}

/**
 * A webhook receiver on 127.0.0.1: `answer(n)` says what the n-th request (from 0) gets, a
 * status or "hang" (no answer at all). Closed with the scope.
 */
const receiver = (answer: (n: number) => number | "hang") =>
  Effect.acquireRelease(
    Effect.callback<{ server: http.Server; url: string; received: Array<Received>; state: { answer: typeof answer } }>((resume) => {
      const received: Array<Received> = []
      const state = { answer }
      const server = http.createServer((request, response) => {
        const chunks: Array<Buffer> = []
        request.on("data", (chunk: Buffer) => chunks.push(chunk))
        request.on("end", () => {
          const status = state.answer(received.length)
          received.push({
            headers: request.headers,
            path: request.url ?? "",
            body: Buffer.concat(chunks).toString("utf8"),
            status: status === "hang" ? undefined : status
          })
          if (status !== "hang") response.writeHead(status).end("ok")
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address() as net.AddressInfo
        resume(Effect.succeed({ server, url: `http://127.0.0.1:${address.port}`, received, state }))
      })
    }),
    ({ server }) =>
      Effect.callback<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

/** A port nothing listens on (it was free a moment ago). */
const closedPort = Effect.callback<number>((resume) => {
  const server = net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as net.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** Waits until `check` holds, for at most `timeoutMs`. */
const eventually = <E, R>(what: string, check: Effect.Effect<boolean, E, R>, timeoutMs = 8_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (!(yield* check)) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting until ${what}`))
      yield* Effect.sleep(10)
    }
  })

// The dispatcher logs every failed try; these tests fail on purpose.
const quiet = Effect.provide(Logger.layer([]))

/** `body` with a fresh SQLite file database; its scoped resources close before the database. */
const withDatabase = <A, E>(body: Effect.Effect<A, E, SqlClient.SqlClient | Scope.Scope>) =>
  Effect.gen(function*() {
    const file = path.join(yield* tempDirectory("webhooks"), "runs.db")
    return yield* Effect.scoped(body).pipe(Effect.provide(runsDatabaseLayers(file).sql), quiet)
  })

const fast = (endpointOf: WebhookDispatcherOptions["endpointOf"], attempts: number): WebhookDispatcherOptions => ({
  endpointOf,
  pollEvery: "10 millis",
  timeoutMs: 2_000,
  retry: { attempts, initialDelayMs: 50, maxDelayMs: 200 }
})

const statusOf = (id: string) => Effect.map(listWebhookEvents(), (rows) => rows.find((row) => row.id === id)?.status)
const allDelivered = Effect.map(listWebhookEvents(), (rows) => rows.length > 0 && rows.every((row) => row.status === "delivered"))

/** How many 2xx answers each webhook-id got. */
const acknowledged = (received: ReadonlyArray<Received>) => {
  const counts = new Map<string, number>()
  for (const request of received) {
    if (request.status !== undefined && request.status >= 200 && request.status < 300) {
      const id = String(request.headers["webhook-id"])
      counts.set(id, (counts.get(id) ?? 0) + 1)
    }
  }
  return counts
}

describe("runWebhookDispatcher", () => {
  it.live("retries failed deliveries and gets every event acknowledged exactly once, signed", () =>
    withDatabase(Effect.gen(function*() {
      const hook = yield* receiver((n) => n < 3 ? 500 : 200)
      const secret = newWebhookSecret()
      yield* ensureWebhookTables
      const subjects = ["ftjob-a", "ftjob-b", "ftjob-c", "ftjob-d", "ftjob-e"]
      for (const subject of subjects) {
        yield* enqueueWebhookEvent({ tenant: "acme", type: "fine_tuning.job.succeeded", subject })
      }
      const ids = (yield* listWebhookEvents()).map((row) => row.id)
      yield* Effect.forkScoped(runWebhookDispatcher(fast(() => ({ url: `${hook.url}/hooks`, secret }), 8)))
      yield* eventually("all are delivered", allDelivered)

      const counts = acknowledged(hook.received)
      assert.strictEqual(hook.received.filter((request) => request.status === 500).length, 3)
      assert.sameMembers([...counts.keys()], ids)
      for (const id of ids) assert.strictEqual(counts.get(id), 1, `event ${id} acknowledged ${counts.get(id)} times`)
      for (const request of hook.received) {
        assert.strictEqual(request.path, "/hooks")
        assert.strictEqual(request.headers["content-type"], "application/json")
        assert.match(String(request.headers["webhook-timestamp"]), /^[0-9]+$/)
        assert.isTrue(verifyWebhook(secret, request.headers, request.body), "signature does not verify")
        const payload = JSON.parse(request.body)
        assert.strictEqual(payload.object, "event")
        assert.strictEqual(payload.id, request.headers["webhook-id"])
        assert.strictEqual(payload.type, "fine_tuning.job.succeeded")
        assert.include(subjects, payload.data.id)
      }
      for (const row of yield* listWebhookEvents()) {
        assert.isNotNull(row.delivered_at)
        assert.isAtLeast(row.attempts, 1)
      }
      // Failed tries were counted on the rows that had them.
      const attempts = (yield* listWebhookEvents()).reduce((sum, row) => sum + row.attempts, 0)
      assert.strictEqual(attempts, hook.received.length)
    })))

  it.live("dead-letters an event after its last try; a replay by its tenant delivers it with the same webhook-id", () =>
    withDatabase(Effect.gen(function*() {
      const hook = yield* receiver(() => 503)
      const secret = newWebhookSecret()
      const endpoint: WebhookEndpoint = { url: `${hook.url}/hooks/acme?token=hush-hush`, secret }
      yield* ensureWebhookTables
      assert.isTrue(yield* enqueueWebhookEvent({ tenant: "acme", type: "fine_tuning.job.failed", subject: "ftjob-x" }))
      const [event] = yield* listWebhookEvents()
      yield* Effect.forkScoped(runWebhookDispatcher(fast((tenant) => tenant === "acme" ? endpoint : undefined, 3)))
      yield* eventually("the event is dead", Effect.map(statusOf(event!.id), (status) => status === "dead"))

      assert.strictEqual(hook.received.length, 3)
      for (const request of hook.received) assert.strictEqual(request.headers["webhook-id"], event!.id)
      const [dead] = yield* listDeadLetters("acme")
      assert.strictEqual(dead!.id, event!.id)
      assert.strictEqual(dead!.attempts, 3)
      assert.include(dead!.last_error!, "HTTP 503")
      assert.include(dead!.last_error!, event!.id)
      assert.include(dead!.last_error!, `${hook.url}/hooks/acme`)
      assert.notInclude(dead!.last_error!, "hush")
      assert.deepStrictEqual(yield* listDeadLetters("globex"), [])

      const refused = yield* Effect.flip(replayDeadLetter(event!.id, "globex"))
      assert.strictEqual(refused._tag, "WebhookEventNotFound")
      assert.strictEqual(yield* statusOf(event!.id), "dead")

      hook.state.answer = () => 204
      yield* replayDeadLetter(event!.id, "acme")
      yield* eventually("the replay is delivered", Effect.map(statusOf(event!.id), (status) => status === "delivered"))
      assert.strictEqual(hook.received.length, 4)
      assert.strictEqual(hook.received[3]!.headers["webhook-id"], event!.id)
      assert.strictEqual(hook.received[3]!.body, hook.received[0]!.body)
      assert.isTrue(verifyWebhook(secret, hook.received[3]!.headers, hook.received[3]!.body))
      assert.deepStrictEqual(yield* listDeadLetters(), [])
      // A delivered event is not a dead letter any more.
      assert.strictEqual((yield* Effect.flip(replayDeadLetter(event!.id, "acme")))._tag, "WebhookEventNotFound")
    })))

  it.live("dead-letters the events of a tenant without a webhook at once, and delivers them once one is set", () =>
    withDatabase(Effect.gen(function*() {
      const hook = yield* receiver(() => 200)
      const endpoints = new Map<string, WebhookEndpoint>()
      yield* ensureWebhookTables
      yield* enqueueWebhookEvent({ tenant: "newco", type: "fine_tuning.job.succeeded", subject: "ftjob-n" })
      const [event] = yield* listWebhookEvents()
      // The lookup may be an Effect too.
      yield* Effect.forkScoped(runWebhookDispatcher(fast((tenant) => Effect.sync(() => endpoints.get(tenant)), 5)))
      yield* eventually("the event is dead", Effect.map(statusOf(event!.id), (status) => status === "dead"))
      const [dead] = yield* listDeadLetters("newco")
      assert.strictEqual(dead!.attempts, 1)
      assert.include(dead!.last_error!, "no webhook is configured for tenant newco")
      assert.strictEqual(hook.received.length, 0)

      endpoints.set("newco", { url: hook.url, secret: newWebhookSecret() })
      yield* replayDeadLetter(event!.id, "newco")
      yield* eventually("the replay is delivered", Effect.map(statusOf(event!.id), (status) => status === "delivered"))
      assert.strictEqual(hook.received.length, 1)
      assert.strictEqual(hook.received[0]!.headers["webhook-id"], event!.id)
    })))

  it.live("counts a refused connection and a timeout as failed tries, naming the event and URL", () =>
    withDatabase(Effect.gen(function*() {
      const slow = yield* receiver(() => "hang")
      const port = yield* closedPort
      const secret = newWebhookSecret()
      const endpoints: Record<string, WebhookEndpoint> = {
        refused: { url: `http://127.0.0.1:${port}/hook`, secret },
        slow: { url: `${slow.url}/slow`, secret },
        broken: { url: `${slow.url}/x`, secret: "not-a-whsec-secret" }
      }
      yield* ensureWebhookTables
      for (const tenant of Object.keys(endpoints)) {
        yield* enqueueWebhookEvent({ tenant, type: "fine_tuning.job.succeeded", subject: `ftjob-${tenant}` })
      }
      yield* Effect.forkScoped(runWebhookDispatcher({ ...fast((tenant) => endpoints[tenant], 1), timeoutMs: 150 }))
      yield* eventually("all are dead", Effect.map(listDeadLetters(), (rows) => rows.length === 3))
      const byTenant = new Map((yield* listDeadLetters()).map((row) => [row.tenant, row]))
      const refused = byTenant.get("refused")!
      assert.include(refused.last_error!, refused.id)
      assert.include(refused.last_error!, `http://127.0.0.1:${port}/hook`)
      assert.include(refused.last_error!, "ECONNREFUSED")
      const timedOut = byTenant.get("slow")!
      assert.include(timedOut.last_error!, timedOut.id)
      assert.include(timedOut.last_error!, `${slow.url}/slow`)
      assert.include(timedOut.last_error!, "no answer within 150 ms")
      assert.strictEqual(slow.received.length, 1)
      const broken = byTenant.get("broken")!
      assert.include(broken.last_error!, "whsec_")
      assert.notInclude(broken.last_error!, "not-a-whsec-secret")
      for (const row of byTenant.values()) assert.notInclude(row.last_error!, secret)
    })))

  it.live("two dispatchers on one database send each event once", () =>
    Effect.gen(function*() {
      const file = path.join(yield* tempDirectory("webhooks"), "runs.db")
      const [a, b] = [runsDatabaseLayers(file).sql, runsDatabaseLayers(file).sql]
      yield* Effect.scoped(Effect.gen(function*() {
        const hook = yield* receiver(() => 200)
        const secret = newWebhookSecret()
        const options = { ...fast(() => ({ url: hook.url, secret }), 3), concurrency: 3, pollEvery: "1 millis" as const }
        yield* Effect.gen(function*() {
          yield* ensureWebhookTables
          for (let n = 0; n < 24; n++) yield* enqueueWebhookEvent({ tenant: "acme", type: "fine_tuning.job.succeeded", subject: `ftjob-${n}` })
        }).pipe(Effect.provide(a))
        yield* Effect.forkScoped(runWebhookDispatcher(options).pipe(Effect.provide(a)))
        yield* Effect.forkScoped(runWebhookDispatcher(options).pipe(Effect.provide(b)))
        yield* eventually("all are delivered", allDelivered.pipe(Effect.provide(a)))
        assert.strictEqual(hook.received.length, 24)
        assert.strictEqual(new Set(hook.received.map((request) => request.headers["webhook-id"])).size, 24)
      }))
    }).pipe(quiet))
})
