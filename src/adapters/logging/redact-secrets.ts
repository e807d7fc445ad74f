import { Predicate } from "effect"

/** What a secret's value is replaced with. */
export const redactedValue = "[redacted]"

// Compared against a key lowercased and stripped of `-` and `_`, by suffix, so `hfToken`,
// `HF_TOKEN`, `x-api-key` and `clientSecret` match while `tokens` and `tokenizer` (a metric
// and a component, not secrets) do not.
const secretSuffixes = ["apikey", "token", "secret", "password", "passwd", "authorization", "privatekey", "secretaccesskey"]

/** Whether a field of this name holds a secret (`apiKey`, `token`, `password`, `Authorization`, ...). */
export const isSecretKey = (key: string): boolean => {
  const normalized = key.toLowerCase().replace(/[-_]/g, "")
  return secretSuffixes.some((suffix) => normalized.endsWith(suffix))
}

// Deeper structures are cut here; log fields are rarely nested further.
const maxDepth = 8

const isPlainRecord = (value: unknown): value is Record<string, unknown> => {
  if (!Predicate.isObject(value)) return false
  const prototype = Object.getPrototypeOf(value)
  return prototype === Object.prototype || prototype === null
}

const redactValue = (value: unknown, depth: number, seen: WeakSet<object>): unknown => {
  if (!Array.isArray(value) && !isPlainRecord(value)) return value
  if (seen.has(value)) return "[Circular]"
  if (depth >= maxDepth) return "[Nested too deep]"
  seen.add(value)
  const copy = Array.isArray(value)
    ? value.map((item) => redactValue(item, depth + 1, seen))
    : Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, isSecretKey(key) ? redactedValue : redactValue(item, depth + 1, seen)])
    )
  seen.delete(value)
  return copy
}

/**
 * A copy of `value` in which every field with a secret-looking name, at any depth of plain
 * objects and arrays, holds {@link redactedValue}. Other values (class instances, strings)
 * pass through unchanged. Secrets must never reach a log line (DESIGN: telemetry).
 */
export const redactSecrets = (value: unknown): unknown => redactValue(value, 0, new WeakSet())

// How deep a cause chain is followed; an error caused by itself must not loop.
const maxCauseDepth = 8

/**
 * A thrown value fit to keep as an error's `cause`: a fresh `Error` with `mask` (which
 * replaces secrets in a text) applied to its name, message, stack and cause chain. Always a
 * copy, never the error itself: SDK errors carry fields (the request, its headers, the
 * client's config) that nothing prints today but anything serializing the error would. A
 * thrown non-error becomes its masked text.
 */
export const maskedCause = (thrown: unknown, mask: (text: string) => string, depth = 0): unknown => {
  if (!(thrown instanceof Error)) return mask(String(thrown))
  const message = mask(thrown.message)
  const stack = thrown.stack === undefined ? undefined : mask(thrown.stack)
  const cause = thrown.cause === undefined || depth >= maxCauseDepth ? undefined : maskedCause(thrown.cause, mask, depth + 1)
  const masked = new Error(message, cause === undefined ? undefined : { cause })
  masked.name = mask(thrown.name)
  if (stack !== undefined) masked.stack = stack
  return masked
}
