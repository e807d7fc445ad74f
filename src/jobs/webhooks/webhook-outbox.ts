/**
 * The webhook outbox: events the job service owes its tenants, in the runs database, written
 * by whoever sees a job change (one row per job and event type) and sent by the dispatcher
 * (`webhook-dispatcher.ts`). Keeping them in a table rather than sending at once means an
 * event survives a restart, is retried with backoff, and lands on a dead-letter list an
 * operator can replay once the receiver works again.
 *
 * The SQL is plain enough for SQLite and PostgreSQL alike (BIGINT epoch milliseconds,
 * `ON CONFLICT DO NOTHING`, `RETURNING`), in the style of `src/durable/run-store.ts`.
 */
import { randomBytes } from "node:crypto"
import { Effect, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { Int } from "../../durable/run-store.js"

/** Where an event stands: waiting for a (next) try, acknowledged with a 2xx, or given up on. */
export const WebhookEventStatus = Schema.Literals(["pending", "delivered", "dead"])
export type WebhookEventStatus = typeof WebhookEventStatus.Type

/** No dead event has this id (for this tenant, when one is given). */
export class WebhookEventNotFound extends Schema.TaggedError<WebhookEventNotFound>()("WebhookEventNotFound", {
  eventId: Schema.String,
  message: Schema.String
}) {}

/** One row of `sous_webhook_events`, decoded. Times are epoch milliseconds. */
export const WebhookEventRow = Schema.Struct({
  id: Schema.String,
  tenant: Schema.String,
  type: Schema.String,
  subject: Schema.String,
  /** The exact JSON text every try sends (and signs). */
  payload: Schema.String,
  created_at: Int,
  status: WebhookEventStatus,
  /** Tries made so far (a try counts once it is claimed). */
  attempts: Int,
  /** When a pending event is due; while a try is in flight, the end of its lease. */
  next_attempt_at: Int,
  last_error: Schema.NullOr(Schema.String),
  delivered_at: Schema.NullOr(Int)
})
export type WebhookEventRow = typeof WebhookEventRow.Type

const decodeRows = Schema.decodeUnknownEffect(Schema.Array(WebhookEventRow))

const createWebhookTables = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS sous_webhook_events (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    type TEXT NOT NULL,
    subject TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    delivered_at BIGINT,
    UNIQUE (subject, type)
  )`
  yield* sql`CREATE INDEX IF NOT EXISTS sous_webhook_events_due ON sous_webhook_events (status, next_attempt_at)`
  yield* sql`CREATE INDEX IF NOT EXISTS sous_webhook_events_tenant ON sous_webhook_events (tenant, created_at)`
})

/** Creates the outbox table if missing: idempotent, run before the first read or write. */
export const ensureWebhookTables = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // As in run-store: PostgreSQL's CREATE ... IF NOT EXISTS races with itself across
  // processes, so creators take turns under a transaction lock (sous's own number).
  yield* sql.onDialectOrElse({
    pg: () =>
      sql.withTransaction(Effect.andThen(sql`SELECT pg_advisory_xact_lock(507532)`.pipe(Effect.asVoid), createWebhookTables)),
    orElse: () => createWebhookTables
  })
})

/** A new event id: `evt_` and 32 hex digits. */
const newWebhookEventId = (): string => `evt_${randomBytes(16).toString("hex")}`

/** What happened, to whom, about what. */
export interface WebhookEventInput {
  readonly tenant: string
  /** The event type, e.g. `fine_tuning.job.succeeded`. */
  readonly type: string
  /** What the event is about (the job id); it is `data.id` of the payload. */
  readonly subject: string
  /** More fields for `data`, after `id` (which is always `subject`). OpenAI's events have none. */
  readonly data?: Readonly<Record<string, unknown>> | undefined
}

/**
 * Queues an event for its tenant's webhook, once per `(subject, type)`: a second call for the
 * same pair (a replayed workflow, another process that saw the same change) does nothing.
 * Resolves with whether this call inserted it. The payload is fixed here, in OpenAI's webhook
 * shape `{"object":"event","id","type","created_at"(seconds),"data":{"id":subject}}`, so every
 * try sends the same bytes.
 */
export const enqueueWebhookEvent = (input: WebhookEventInput) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const now = Date.now()
    const id = newWebhookEventId()
    const payload = JSON.stringify({
      object: "event",
      id,
      type: input.type,
      created_at: Math.floor(now / 1000),
      data: { ...input.data, id: input.subject }
    })
    // ON CONFLICT DO NOTHING (both dialects) rather than check-then-insert: two processes
    // racing on the same pair both succeed, and exactly one row exists.
    const inserted = yield* sql`INSERT INTO sous_webhook_events ${
      sql.insert({
        id,
        tenant: input.tenant,
        type: input.type,
        subject: input.subject,
        payload,
        created_at: now,
        status: "pending",
        attempts: 0,
        next_attempt_at: now
      })
    } ON CONFLICT DO NOTHING RETURNING id`
    return inserted.length > 0
  })

/** Events, newest first; only the tenant's and only those in `status` when given. */
export const listWebhookEvents = (filter?: { readonly tenant?: string | undefined; readonly status?: WebhookEventStatus | undefined }) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const conditions = [
      ...(filter?.tenant === undefined ? [] : [sql`tenant = ${filter.tenant}`]),
      ...(filter?.status === undefined ? [] : [sql`status = ${filter.status}`])
    ]
    const rows = yield* sql`SELECT * FROM sous_webhook_events WHERE ${sql.and(conditions)} ORDER BY created_at DESC, id`
    return yield* decodeRows(rows).pipe(Effect.orDie)
  })

/** The dead-letter list: events given up on, newest first; only the tenant's when given. */
export const listDeadLetters = (tenant?: string) => listWebhookEvents({ tenant, status: "dead" })

/**
 * Sends a dead event again: back to `pending`, its tries reset and due now. It keeps its id
 * (the `webhook-id` a receiver dedupes on) and payload. Fails with `WebhookEventNotFound`
 * when no dead event has this id, or it belongs to another tenant than `tenant`.
 */
export const replayDeadLetter = (id: string, tenant?: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const ofTenant = tenant === undefined ? sql`1 = 1` : sql`tenant = ${tenant}`
    const replayed = yield* sql`UPDATE sous_webhook_events SET status = 'pending', attempts = 0, next_attempt_at = ${Date.now()}
      WHERE id = ${id} AND status = 'dead' AND ${ofTenant} RETURNING id`
    if (replayed.length === 0) {
      return yield* new WebhookEventNotFound({ eventId: id, message: `no dead webhook event ${id}` })
    }
  })

/**
 * Claims one event for a try, as it was read (`candidate`): counts the try and pushes
 * `next_attempt_at` to the end of a lease, in one conditional UPDATE that matches only while
 * the row is still pending, due, and at the attempt count read. If another dispatcher claimed
 * it since, its attempts and next_attempt_at have changed and nothing matches (PostgreSQL
 * re-checks the WHERE on the row it waited for), so the same try is never claimed twice.
 * Resolves with the row after the claim, or `undefined` when this call lost.
 */
export const claimWebhookEvent = (
  candidate: { readonly id: string; readonly attempts: number },
  leaseMillis: number
) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const now = Date.now()
    const rows = yield* sql`UPDATE sous_webhook_events
      SET attempts = attempts + 1, next_attempt_at = ${now + leaseMillis}
      WHERE id = ${candidate.id} AND status = 'pending' AND attempts = ${candidate.attempts} AND next_attempt_at <= ${now}
      RETURNING *`
    const [row] = yield* decodeRows(rows).pipe(Effect.orDie)
    return row
  })

/**
 * Claims up to `limit` due pending events for one try each, for the dispatcher (see
 * {@link claimWebhookEvent}): another dispatcher on the same database skips them until their
 * lease ends, and a dispatcher that died mid-try leaves its event to be tried again then.
 * Resolves with the rows claimed, as they are after the claim.
 */
export const claimDueWebhookEvents = (options: { readonly limit: number; readonly leaseMillis: number }) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    if (options.limit <= 0) return []
    const candidates = yield* decodeRows(
      yield* sql`SELECT * FROM sous_webhook_events WHERE status = 'pending' AND next_attempt_at <= ${Date.now()}
        ORDER BY next_attempt_at, id LIMIT ${options.limit}`
    ).pipe(Effect.orDie)
    const claimed: Array<WebhookEventRow> = []
    for (const candidate of candidates) {
      const row = yield* claimWebhookEvent(candidate, options.leaseMillis)
      if (row !== undefined) claimed.push(row)
    }
    return claimed
  })

/**
 * Records a 2xx for the event. Any in-flight try's success counts, even one whose lease ran
 * out: the receiver has it, so it must not be sent again.
 */
export const markWebhookDelivered = (id: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`UPDATE sous_webhook_events SET status = 'delivered', delivered_at = ${Date.now()}
      WHERE id = ${id} AND status = 'pending'`
  })

/**
 * Records a failed try `attempt` (as claimed): the event is due again at `retryAt`, or `dead`
 * when `retryAt` is `"dead"`. Nothing changes when the row has moved on since (delivered, or
 * claimed again after this try's lease ran out).
 */
export const recordWebhookFailure = (id: string, attempt: number, error: string, retryAt: number | "dead") =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const now = Date.now()
    const next = retryAt === "dead"
      ? sql`status = 'dead', next_attempt_at = ${now}`
      : sql`next_attempt_at = ${retryAt}`
    yield* sql`UPDATE sous_webhook_events SET ${next}, last_error = ${error}
      WHERE id = ${id} AND status = 'pending' AND attempts = ${attempt}`
  })
