/**
 * The webhook dispatcher: a loop that sends the outbox's due events (`webhook-outbox.ts`) to
 * their tenants' endpoints, signed the Standard Webhooks way, until it is interrupted. A 2xx
 * answer delivers an event; anything else is tried again with exponential backoff, and after
 * the last try the event goes on the dead-letter list.
 *
 * Each try is claimed in the database before it is sent (see `claimDueWebhookEvents`), so
 * several dispatchers on one database (PostgreSQL) never have the same event in flight.
 * Delivery is at-least-once all the same: a dispatcher that dies after the receiver answered
 * but before it recorded the answer leaves the event to be sent again once its lease ends.
 * Receivers dedupe on `webhook-id`, which stays the same across tries and replays.
 */
import { Duration, Effect, FiberSet, Schema } from "effect"
import type { SqlClient, SqlError } from "effect/sql"
import {
  claimDueWebhookEvents,
  ensureWebhookTables,
  markWebhookDelivered,
  recordWebhookFailure,
  type WebhookEventRow
} from "./webhook-outbox.js"
import { isWebhookSecret, signWebhook } from "./webhook-signature.js"

/** Where a tenant's events go, and the `whsec_...` secret they are signed with. */
export interface WebhookEndpoint {
  readonly url: string
  readonly secret: string
}

/**
 * How often an event is tried, in all, and the waits between tries: `initialDelayMs` after
 * the first, doubled after each one after, never more than `maxDelayMs`.
 */
export interface WebhookRetryPolicy {
  readonly attempts: number
  readonly initialDelayMs: number
  readonly maxDelayMs: number
}

/**
 * Fifteen tries, 1 s apart at first, doubling up to 10 minutes apart: the last about 57 minutes
 * after the first, so a receiver down for most of an hour still gets every event.
 */
export const defaultWebhookRetryPolicy: WebhookRetryPolicy = { attempts: 15, initialDelayMs: 1_000, maxDelayMs: 600_000 }

/** What the dispatcher needs to know; all but `endpointOf` have defaults. */
export interface WebhookDispatcherOptions {
  /**
   * The tenant's endpoint, or `undefined` when it has none (its events then go dead at once,
   * to be replayed once one is configured). Asked before every try, so a changed endpoint
   * applies to the next one.
   */
  readonly endpointOf: (
    tenant: string
  ) => WebhookEndpoint | undefined | Effect.Effect<WebhookEndpoint | undefined>
  /** How often due events are looked for. Defaults to 250 ms. */
  readonly pollEvery?: Duration.Input | undefined
  /** How long one request may take, answer included, before it counts as failed. Defaults to 10 s. */
  readonly timeoutMs?: number | undefined
  /** How many deliveries may be in flight at once (different events). Defaults to 8. */
  readonly concurrency?: number | undefined
  /** The retry policy; what is left out comes from {@link defaultWebhookRetryPolicy}. */
  readonly retry?: Partial<WebhookRetryPolicy> | undefined
}

/** One try of one event failed. The URL is printed without credentials, query or fragment. */
export class WebhookDeliveryError extends Schema.TaggedError<WebhookDeliveryError>()("WebhookDeliveryError", {
  eventId: Schema.String,
  url: Schema.String,
  message: Schema.String
}) {}

/** The wait after failed try number `attempt` (1 for the first). */
export const webhookRetryDelay = (attempt: number, retry: WebhookRetryPolicy): number =>
  Math.min(retry.initialDelayMs * 2 ** Math.max(0, attempt - 1), retry.maxDelayMs)

/**
 * `url` as it may be logged or stored: scheme, host and path. Credentials, the query (where
 * some receivers put a token) and the fragment are left out.
 */
export const printableWebhookUrl = (url: URL): string => `${url.protocol}//${url.host}${url.pathname}`

/** Why a fetch failed, in words that never contain the URL (undici's codes and messages do not). */
const describeFetchFailure = (cause: unknown, timeoutMs: number): string => {
  if (cause instanceof Error && (cause.name === "TimeoutError" || cause.name === "AbortError")) {
    return cause.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : "aborted"
  }
  const inner = cause instanceof Error ? cause.cause : undefined
  if (inner instanceof Error) {
    const code = (inner as { code?: unknown }).code
    return typeof code === "string" ? `${code}: ${inner.message}` : inner.message
  }
  return cause instanceof Error ? cause.message : String(cause)
}

/** Parses the endpoint URL; only http(s) without credentials is sent to. */
const endpointUrl = (text: string): URL | string => {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return "the webhook URL cannot be parsed"
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return `the webhook URL is ${url.protocol} rather than http(s)`
  if (url.username !== "" || url.password !== "") return "the webhook URL must not hold credentials"
  return url
}

/** POSTs the event's payload once, signed; succeeds on a 2xx answer. */
const post = (event: WebhookEventRow, url: URL, secret: string, timeoutMs: number) => {
  const printable = printableWebhookUrl(url)
  const failure = (message: string) =>
    new WebhookDeliveryError({ eventId: event.id, url: printable, message: `webhook ${event.id} to ${printable}: ${message}` })
  return Effect.tryPromise({
    try: async (signal) => {
      const timestamp = Math.floor(Date.now() / 1000)
      const response = await fetch(url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "webhook-id": event.id,
          "webhook-timestamp": String(timestamp),
          "webhook-signature": signWebhook(secret, event.id, timestamp, event.payload)
        },
        body: event.payload,
        // A redirect is not an acknowledgement, and following it would send the signed
        // payload somewhere the tenant did not name.
        redirect: "manual",
        signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)])
      })
      // The answer's body is not needed; dropping it frees the connection.
      await response.body?.cancel().catch(() => undefined)
      return response.status
    },
    catch: (cause) => failure(describeFetchFailure(cause, timeoutMs))
  }).pipe(
    Effect.flatMap((status) => status >= 200 && status < 300 ? Effect.void : Effect.fail(failure(`HTTP ${status}`)))
  )
}

/**
 * Runs the dispatcher until interrupted: every `pollEvery` it claims as many due events as it
 * has free delivery slots and sends each in its own fiber. A failed try is recorded on its
 * row (`last_error`, the next due time, or `dead` after the last try) and logged; a database
 * error of one round is logged and the next round tries again. Creates the outbox table first.
 */
export const runWebhookDispatcher = (
  options: WebhookDispatcherOptions
): Effect.Effect<never, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.scoped(Effect.gen(function*() {
    yield* ensureWebhookTables
    const retry: WebhookRetryPolicy = { ...defaultWebhookRetryPolicy, ...options.retry }
    const timeoutMs = options.timeoutMs ?? 10_000
    const concurrency = Math.max(1, options.concurrency ?? 8)
    const pollEvery = options.pollEvery ?? Duration.millis(250)
    // A claimed try holds its event this long: the request's own limit and room to record
    // the answer. Past it, the event is due again for any dispatcher.
    const leaseMillis = timeoutMs + 30_000

    const endpointOf = (tenant: string) =>
      Effect.suspend(() => {
        const found = options.endpointOf(tenant)
        return Effect.isEffect(found) ? found : Effect.succeed(found)
      })

    const fail = (event: WebhookEventRow, message: string, dead: boolean) => {
      const final = dead || event.attempts >= retry.attempts
      const retryAt = final ? "dead" as const : Date.now() + webhookRetryDelay(event.attempts, retry)
      return Effect.andThen(
        Effect.logWarning(final ? `${message}; giving up (dead letter)` : `${message}; will try again`).pipe(
          Effect.annotateLogs({ webhookEvent: event.id, tenant: event.tenant, attempt: event.attempts })
        ),
        recordWebhookFailure(event.id, event.attempts, message, retryAt)
      )
    }

    const deliver = (event: WebhookEventRow) =>
      Effect.gen(function*() {
        const endpoint = yield* endpointOf(event.tenant).pipe(
          Effect.catchDefect((defect) => Effect.succeed(new Error(`webhook endpoint lookup failed: ${String(defect)}`)))
        )
        if (endpoint instanceof Error) return yield* fail(event, `webhook ${event.id}: ${endpoint.message}`, false)
        // Configuration problems go dead at once: no retry would help, and a replay will
        // once the tenant's webhook is fixed.
        if (endpoint === undefined) {
          return yield* fail(event, `webhook ${event.id}: no webhook is configured for tenant ${event.tenant}`, true)
        }
        const url = endpointUrl(endpoint.url)
        if (typeof url === "string") return yield* fail(event, `webhook ${event.id}: ${url}`, true)
        if (!isWebhookSecret(endpoint.secret)) {
          return yield* fail(event, `webhook ${event.id}: the webhook secret of tenant ${event.tenant} is not whsec_<base64>`, true)
        }
        yield* post(event, url, endpoint.secret, timeoutMs).pipe(
          Effect.andThen(markWebhookDelivered(event.id)),
          Effect.catchTag("WebhookDeliveryError", (error) => fail(event, error.message, false))
        )
      }).pipe(
        // The row is left as claimed: its lease ends and the event is tried again.
        Effect.catch((error) => Effect.logError(`webhook ${event.id}: could not record the try: ${error.message}`))
      )

    const inFlight = yield* FiberSet.make<void, never>()
    const round = Effect.gen(function*() {
      const free = concurrency - (yield* FiberSet.size(inFlight))
      if (free <= 0) return
      const claimed = yield* claimDueWebhookEvents({ limit: free, leaseMillis })
      for (const event of claimed) yield* FiberSet.run(inFlight, deliver(event))
    }).pipe(Effect.catch((error) => Effect.logError(`webhook dispatcher: ${error.message}`)))

    return yield* Effect.forever(Effect.andThen(round, Effect.sleep(pollEvery)))
  }))
