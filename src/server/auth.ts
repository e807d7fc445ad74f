import { createHash, timingSafeEqual } from "node:crypto"
import type { IncomingHttpHeaders } from "node:http"

// The header that carries the API key, as the Tinker SDK sends it.
const apiKeyHeader = "X-API-Key"

// Digests have one length whatever the keys' lengths, so the comparison leaks neither.
const digest = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest()

/**
 * Checks a request's `X-API-Key` against the server's key in constant time. Answers why it
 * is refused (naming the header, never any key), or undefined when it may pass.
 */
export const makeApiKeyCheck = (apiKey: string): (headers: IncomingHttpHeaders) => string | undefined => {
  const expected = digest(apiKey)
  return (headers) => {
    const sent = headers[apiKeyHeader.toLowerCase()]
    if (sent === undefined || sent === "") return `missing ${apiKeyHeader} header: send the server's API key in it`
    const value = Array.isArray(sent) ? sent.join(",") : sent
    return timingSafeEqual(digest(value), expected) ? undefined : `the ${apiKeyHeader} header does not hold this server's API key`
  }
}
