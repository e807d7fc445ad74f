import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { runsDatabaseLayers } from "../../../src/durable/database.js"
import {
  enqueueWebhookEvent,
  ensureWebhookTables,
  listDeadLetters,
  listWebhookEvents,
  replayDeadLetter
} from "../../../src/jobs/webhooks/index.js"
import { claimDueWebhookEvents, claimWebhookEvent, recordWebhookFailure } from "../../../src/jobs/webhooks/webhook-outbox.js"
import { tempDirectory } from "../../support/temp-directory.js"

const databaseFile = Effect.map(tempDirectory("webhook-outbox"), (directory) => path.join(directory, "runs.db"))

describe("webhook outbox", () => {
  it.live("enqueues one event per (subject, type), in OpenAI's webhook shape", () =>
    Effect.gen(function*() {
      const db = runsDatabaseLayers(yield* databaseFile)
      yield* Effect.gen(function*() {
        yield* ensureWebhookTables
        yield* ensureWebhookTables // idempotent
        const job = { tenant: "acme", type: "fine_tuning.job.succeeded", subject: "ftjob-1" }
        const before = Math.floor(Date.now() / 1000)
        assert.isTrue(yield* enqueueWebhookEvent(job))
        assert.isFalse(yield* enqueueWebhookEvent(job))
        assert.isFalse(yield* enqueueWebhookEvent({ ...job, tenant: "other" }))
        assert.isTrue(yield* enqueueWebhookEvent({ ...job, type: "fine_tuning.job.failed" }))
        assert.isTrue(yield* enqueueWebhookEvent({ ...job, subject: "ftjob-2" }))

        const events = yield* listWebhookEvents()
        assert.strictEqual(events.length, 3)
        const [event] = yield* Effect.map(listWebhookEvents({ tenant: "acme" }), (rows) =>
          rows.filter((row) => row.subject === "ftjob-1" && row.type === "fine_tuning.job.succeeded"))
        assert.match(event!.id, /^evt_[0-9a-f]{32}$/)
        assert.strictEqual(event!.status, "pending")
        assert.strictEqual(event!.attempts, 0)
        assert.isNull(event!.last_error)
        assert.isNull(event!.delivered_at)
        const payload = JSON.parse(event!.payload)
        assert.deepStrictEqual(payload, {
          object: "event",
          id: event!.id,
          type: "fine_tuning.job.succeeded",
          created_at: payload.created_at,
          data: { id: "ftjob-1" }
        })
        assert.isTrue(payload.created_at >= before && payload.created_at <= Math.floor(Date.now() / 1000))
        assert.strictEqual(Math.floor(event!.created_at / 1000), payload.created_at)
        // The payload keys come in OpenAI's order.
        assert.isTrue(event!.payload.startsWith("{\"object\":\"event\",\"id\":\"evt_"))

        assert.strictEqual((yield* listWebhookEvents({ tenant: "other" })).length, 0)
        assert.strictEqual((yield* listWebhookEvents({ status: "pending" })).length, 3)
        assert.strictEqual((yield* listWebhookEvents({ status: "delivered" })).length, 0)
      }).pipe(Effect.provide(db.sql))
    }))

  it.live("enqueues once even when two connections race on the same pair", () =>
    Effect.gen(function*() {
      const file = yield* databaseFile
      const [a, b] = [runsDatabaseLayers(file).sql, runsDatabaseLayers(file).sql]
      yield* ensureWebhookTables.pipe(Effect.provide(a))
      const enqueue = (n: number) => enqueueWebhookEvent({ tenant: "acme", type: "fine_tuning.job.succeeded", subject: `ftjob-${n % 5}` })
      const inserted = yield* Effect.all(
        Array.from({ length: 20 }, (_, n) => enqueue(n).pipe(Effect.provide(n % 2 === 0 ? a : b))),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(inserted.filter((x) => x).length, 5)
      assert.strictEqual((yield* listWebhookEvents().pipe(Effect.provide(a))).length, 5)
    }))

  it.live("lets only one of two dispatchers claim a due event", () =>
    Effect.gen(function*() {
      const file = yield* databaseFile
      const [a, b] = [runsDatabaseLayers(file).sql, runsDatabaseLayers(file).sql]
      yield* Effect.gen(function*() {
        yield* ensureWebhookTables
        for (let n = 0; n < 10; n++) yield* enqueueWebhookEvent({ tenant: "acme", type: "t", subject: `ftjob-${n}` })
      }).pipe(Effect.provide(a))
      const claim = claimDueWebhookEvents({ limit: 10, leaseMillis: 60_000 })
      const [first, second] = yield* Effect.all([claim.pipe(Effect.provide(a)), claim.pipe(Effect.provide(b))], {
        concurrency: 2
      })
      const ids = [...first!, ...second!].map((row) => row.id)
      assert.strictEqual(ids.length, 10)
      assert.strictEqual(new Set(ids).size, 10)
      for (const row of [...first!, ...second!]) {
        assert.strictEqual(row.attempts, 1)
        assert.isTrue(row.next_attempt_at > Date.now() + 50_000)
      }
      // Leased: nothing is due until the lease ends.
      assert.deepStrictEqual(yield* claim.pipe(Effect.provide(a)), [])
    }))

  it.live("refuses a claim made on a stale read (another dispatcher claimed the event in between)", () =>
    Effect.gen(function*() {
      const file = yield* databaseFile
      const [a, b] = [runsDatabaseLayers(file).sql, runsDatabaseLayers(file).sql]
      // Both dispatchers read the due events before either claims: the interleaving that
      // two processes on PostgreSQL can produce.
      const stale = yield* Effect.gen(function*() {
        yield* ensureWebhookTables
        for (let n = 0; n < 4; n++) yield* enqueueWebhookEvent({ tenant: "acme", type: "t", subject: `ftjob-${n}` })
        return yield* listWebhookEvents({ status: "pending" })
      }).pipe(Effect.provide(a))
      const won = yield* Effect.forEach(stale, (row) => claimWebhookEvent(row, 60_000)).pipe(Effect.provide(a))
      assert.isTrue(won.every((row) => row?.attempts === 1))
      const lost = yield* Effect.forEach(stale, (row) => claimWebhookEvent(row, 60_000)).pipe(Effect.provide(b))
      assert.isTrue(lost.every((row) => row === undefined))
      // Even with the lease already over, a claim at the old attempt count loses.
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`UPDATE sous_webhook_events SET next_attempt_at = 0`
      }).pipe(Effect.provide(b))
      assert.isUndefined(yield* claimWebhookEvent(stale[0]!, 60_000).pipe(Effect.provide(b)))
      assert.strictEqual((yield* claimWebhookEvent({ id: stale[0]!.id, attempts: 1 }, 60_000).pipe(Effect.provide(b)))?.attempts, 2)
    }))

  it.live("replays a dead event for its tenant only, keeping its id", () =>
    Effect.gen(function*() {
      const db = runsDatabaseLayers(yield* databaseFile)
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* ensureWebhookTables
        yield* enqueueWebhookEvent({ tenant: "acme", type: "fine_tuning.job.failed", subject: "ftjob-9" })
        const [claimed] = yield* claimDueWebhookEvents({ limit: 5, leaseMillis: 60_000 })
        // Replaying needs a dead event: a pending one is not found.
        const notDead = yield* Effect.flip(replayDeadLetter(claimed!.id))
        assert.strictEqual(notDead._tag, "WebhookEventNotFound")
        yield* recordWebhookFailure(claimed!.id, 1, "HTTP 500", "dead")
        const [dead] = yield* listDeadLetters("acme")
        assert.strictEqual(dead!.id, claimed!.id)
        assert.strictEqual(dead!.last_error, "HTTP 500")
        assert.deepStrictEqual(yield* listDeadLetters("other"), [])

        const refused = yield* Effect.flip(replayDeadLetter(claimed!.id, "other"))
        assert.strictEqual(refused._tag === "WebhookEventNotFound" ? refused.eventId : refused._tag, claimed!.id)
        assert.strictEqual((yield* Effect.flip(replayDeadLetter("evt_missing")))._tag, "WebhookEventNotFound")

        yield* replayDeadLetter(claimed!.id, "acme")
        const [replayed] = yield* listWebhookEvents({ tenant: "acme" })
        assert.strictEqual(replayed!.id, claimed!.id)
        assert.strictEqual(replayed!.status, "pending")
        assert.strictEqual(replayed!.attempts, 0)
        assert.isTrue(replayed!.next_attempt_at <= Date.now())
        assert.strictEqual(replayed!.payload, dead!.payload)
        assert.deepStrictEqual(yield* listDeadLetters(), [])
        // A stale failure record (an older try) does not touch the replayed row.
        yield* recordWebhookFailure(claimed!.id, 1, "late", "dead")
        const [row] = yield* sql<{ status: string }>`SELECT status FROM sous_webhook_events`
        assert.strictEqual(row!.status, "pending")
      }).pipe(Effect.provide(db.sql))
    }))
})
