import * as http from "node:http"
import type * as net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger } from "effect"
import { afterAll, beforeAll } from "vitest"
import { runsDatabaseLayers } from "../../../src/durable/database.js"
import {
  enqueueWebhookEvent,
  ensureWebhookTables,
  listDeadLetters,
  listWebhookEvents,
  newWebhookSecret,
  replayDeadLetter,
  runWebhookDispatcher,
  verifyWebhook
} from "../../../src/jobs/webhooks/index.js"
import { claimWebhookEvent } from "../../../src/jobs/webhooks/webhook-outbox.js"
import { postgresSkipReason, type PostgresTestServer, startPostgresServer } from "../../support/postgres-server.js"

// The outbox and dispatcher on PostgreSQL, where two connections really run at once: the
// same SQL as on SQLite (BIGINTs come back as strings there), racing enqueues and two
// dispatchers sharing one table.
const skip = postgresSkipReason()
let server: PostgresTestServer | undefined

/** A receiver that answers `status()` and remembers the webhook-id and body of each request. */
const receiver = (status: () => number) =>
  Effect.acquireRelease(
    Effect.callback<{ server: http.Server; url: string; received: Array<{ id: string; status: number; headers: http.IncomingHttpHeaders; body: string }> }>((resume) => {
      const received: Array<{ id: string; status: number; headers: http.IncomingHttpHeaders; body: string }> = []
      const server = http.createServer((request, response) => {
        let body = ""
        request.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")))
        request.on("end", () => {
          const answer = status()
          received.push({ id: String(request.headers["webhook-id"]), status: answer, headers: request.headers, body })
          response.writeHead(answer).end()
        })
      })
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({ server, url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/hook`, received })))
    }),
    ({ server }) =>
      Effect.callback<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

const eventually = <E, R>(what: string, check: Effect.Effect<boolean, E, R>, timeoutMs = 8_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (!(yield* check)) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting until ${what}`))
      yield* Effect.sleep(10)
    }
  })

describe.skipIf(skip !== undefined)("webhooks on PostgreSQL", () => {
  beforeAll(async () => {
    server = await startPostgresServer()
  })
  afterAll(async () => {
    await server?.stop()
  })

  it.live("enqueues once per (subject, type) under racing connections, and refuses a stale claim", () =>
    Effect.gen(function*() {
      const url = yield* Effect.promise(() => server!.createDatabase())
      const [a, b] = [runsDatabaseLayers(url).sql, runsDatabaseLayers(url).sql]
      // Two creators at once: the advisory lock makes them take turns.
      yield* Effect.all([ensureWebhookTables.pipe(Effect.provide(a)), ensureWebhookTables.pipe(Effect.provide(b))], { concurrency: 2 })
      const inserted = yield* Effect.all(
        Array.from({ length: 40 }, (_, n) =>
          enqueueWebhookEvent({ tenant: "acme", type: "fine_tuning.job.succeeded", subject: `ftjob-${n % 8}` }).pipe(
            Effect.provide(n % 2 === 0 ? a : b)
          )),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(inserted.filter((x) => x).length, 8)
      const rows = yield* listWebhookEvents({ tenant: "acme", status: "pending" }).pipe(Effect.provide(a))
      assert.strictEqual(rows.length, 8)
      assert.strictEqual(typeof rows[0]!.created_at, "number")
      const first = yield* Effect.forEach(rows, (row) => claimWebhookEvent(row, 60_000)).pipe(Effect.provide(a))
      const second = yield* Effect.forEach(rows, (row) => claimWebhookEvent(row, 60_000)).pipe(Effect.provide(b))
      assert.isTrue(first.every((row) => row?.attempts === 1))
      assert.isTrue(second.every((row) => row === undefined))
    }))

  it.live("two dispatchers send each event once; dead letters replay", () =>
    Effect.gen(function*() {
      const url = yield* Effect.promise(() => server!.createDatabase())
      const [a, b] = [runsDatabaseLayers(url).sql, runsDatabaseLayers(url).sql]
      let failing = false
      const hook = yield* receiver(() => (failing ? 500 : 200))
      const secret = newWebhookSecret()
      const options = {
        endpointOf: (tenant: string) => tenant === "acme" ? { url: hook.url, secret } : undefined,
        pollEvery: "2 millis" as const,
        concurrency: 4,
        retry: { attempts: 2, initialDelayMs: 30, maxDelayMs: 100 }
      }
      yield* Effect.gen(function*() {
        yield* ensureWebhookTables
        for (let n = 0; n < 30; n++) yield* enqueueWebhookEvent({ tenant: "acme", type: "fine_tuning.job.succeeded", subject: `ftjob-${n}` })
      }).pipe(Effect.provide(a))
      yield* Effect.forkScoped(runWebhookDispatcher(options).pipe(Effect.provide(a)))
      yield* Effect.forkScoped(runWebhookDispatcher(options).pipe(Effect.provide(b)))
      const delivered = listWebhookEvents({ status: "delivered" }).pipe(Effect.provide(a))
      yield* eventually("all are delivered", Effect.map(delivered, (rows) => rows.length === 30))
      assert.strictEqual(hook.received.length, 30)
      assert.strictEqual(new Set(hook.received.map((request) => request.id)).size, 30)
      for (const request of hook.received) assert.isTrue(verifyWebhook(secret, request.headers, request.body))

      failing = true
      yield* enqueueWebhookEvent({ tenant: "acme", type: "fine_tuning.job.failed", subject: "ftjob-0" }).pipe(Effect.provide(b))
      const dead = listDeadLetters("acme").pipe(Effect.provide(a))
      yield* eventually("the event is dead", Effect.map(dead, (rows) => rows.length === 1))
      const [letter] = yield* dead
      assert.strictEqual(letter!.attempts, 2)
      assert.include(letter!.last_error!, "HTTP 500")
      assert.strictEqual((yield* Effect.flip(replayDeadLetter(letter!.id, "globex").pipe(Effect.provide(a))))._tag, "WebhookEventNotFound")
      failing = false
      yield* replayDeadLetter(letter!.id, "acme").pipe(Effect.provide(b))
      yield* eventually("the replay is delivered", Effect.map(delivered, (rows) => rows.length === 31))
      assert.strictEqual(hook.received.filter((request) => request.id === letter!.id && request.status === 200).length, 1)
    }).pipe(Effect.provide(Logger.layer([]))))
})
