/**
 * Signing and checking webhook deliveries the Standard Webhooks way
 * (https://www.standardwebhooks.com): the sender puts `webhook-id`, `webhook-timestamp` (Unix
 * seconds) and `webhook-signature` on each request, the signature being
 * `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">` under the endpoint's secret. A
 * receiver can check it with any Standard Webhooks library, or with {@link verifyWebhook}.
 *
 * Secrets are `whsec_<base64 of the key bytes>`; the HMAC key is the decoded bytes, not the
 * text. Nothing here ever puts a secret into an error message.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto"
import { Schema } from "effect"

/** A webhook secret is not `whsec_` followed by base64 key bytes. It never carries the secret. */
export class InvalidWebhookSecret extends Schema.TaggedError<InvalidWebhookSecret>()("InvalidWebhookSecret", {
  message: Schema.String
}) {}

const secretPrefix = "whsec_"

// Strict base64 (standard alphabet, padded): Buffer.from(..., "base64") skips characters it
// does not know, so a mangled secret would silently give a different key.
const base64Pattern = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** The HMAC key bytes of a `whsec_...` secret, or `undefined` when it is not in that shape. */
const keyOf = (secret: string): Buffer | undefined => {
  if (!secret.startsWith(secretPrefix)) return undefined
  const encoded = secret.slice(secretPrefix.length)
  if (encoded.length === 0 || !base64Pattern.test(encoded)) return undefined
  return Buffer.from(encoded, "base64")
}

const requireKey = (secret: string): Buffer => {
  const key = keyOf(secret)
  if (key === undefined) {
    throw new InvalidWebhookSecret({
      message: "a webhook secret must be \"whsec_\" followed by the base64 of its key bytes (Standard Webhooks)"
    })
  }
  return key
}

/** Whether `secret` is a usable Standard Webhooks secret (`whsec_` + non-empty base64). */
export const isWebhookSecret = (secret: string): boolean => keyOf(secret) !== undefined

/** A fresh secret: `whsec_` and the base64 of 32 random bytes. */
export const newWebhookSecret = (): string => secretPrefix + randomBytes(32).toString("base64")

const hmac = (key: Buffer, id: string, timestampSeconds: number | string, body: string): Buffer =>
  createHmac("sha256", key).update(`${id}.${timestampSeconds}.${body}`, "utf8").digest()

/**
 * The `webhook-signature` header value of one delivery: `v1,<base64 HMAC-SHA256>` over
 * `"<id>.<timestampSeconds>.<body>"`. `body` is the exact text sent.
 *
 * @throws InvalidWebhookSecret when `secret` is not `whsec_<base64>`.
 */
export const signWebhook = (secret: string, id: string, timestampSeconds: number, body: string): string =>
  `v1,${hmac(requireKey(secret), id, Math.trunc(timestampSeconds), body).toString("base64")}`

/**
 * Request headers as a receiver sees them: Node's `IncomingMessage.headers` fits, and so does
 * a plain object with the three `webhook-*` names.
 */
export type WebhookHeaders = { readonly [name: string]: string | ReadonlyArray<string> | undefined }

/** How far the timestamp may be from now, and what "now" is (for tests). */
export interface VerifyWebhookOptions {
  /** Largest allowed distance between `webhook-timestamp` and now, either way. Defaults to 300 s. */
  readonly toleranceSeconds?: number | undefined
  /** The current time in Unix seconds. Defaults to the clock. */
  readonly nowSeconds?: number | undefined
}

const headerOf = (headers: WebhookHeaders, name: string): string | undefined => {
  let value = headers[name]
  if (value === undefined) {
    const key = Object.keys(headers).find((candidate) => candidate.toLowerCase() === name)
    value = key === undefined ? undefined : headers[key]
  }
  if (value === undefined) return undefined
  return typeof value === "string" ? value : value.length === 1 ? value[0] : undefined
}

/**
 * Whether a delivery is authentic: its three headers are present, its timestamp is within
 * `toleranceSeconds` of now (against replays), and one of the space-separated `v1,...`
 * entries of `webhook-signature` is the HMAC of `"<id>.<timestamp>.<body>"` under `secret`
 * (compared in constant time). `body` must be the raw request body, not re-serialized JSON.
 *
 * @throws InvalidWebhookSecret when `secret` is not `whsec_<base64>`.
 */
export const verifyWebhook = (
  secret: string,
  headers: WebhookHeaders,
  body: string,
  options?: VerifyWebhookOptions
): boolean => {
  const key = requireKey(secret)
  const id = headerOf(headers, "webhook-id")
  const timestamp = headerOf(headers, "webhook-timestamp")
  const signatures = headerOf(headers, "webhook-signature")
  if (id === undefined || timestamp === undefined || signatures === undefined) return false
  if (!/^[0-9]{1,15}$/.test(timestamp)) return false
  const now = options?.nowSeconds ?? Math.floor(Date.now() / 1000)
  if (Math.abs(now - Number(timestamp)) > (options?.toleranceSeconds ?? 300)) return false
  const expected = hmac(key, id, timestamp, body)
  let matched = false
  for (const entry of signatures.split(" ")) {
    if (!entry.startsWith("v1,")) continue
    const encoded = entry.slice(3)
    if (!base64Pattern.test(encoded)) continue
    const candidate = Buffer.from(encoded, "base64")
    // No early exit: every entry is compared, each in constant time for its length.
    if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) matched = true
  }
  return matched
}
