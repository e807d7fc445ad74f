import { createHash, timingSafeEqual } from "node:crypto"
import type { IncomingHttpHeaders } from "node:http"

// The header that carries the API key, as the Tinker SDK sends it.
const apiKeyHeader = "X-API-Key"

/** The SHA-256 digest of a key: one length whatever the key's, so comparing digests leaks neither. */
export const keyDigest = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest()

/** A known key, by its digest, and whose it is. */
export interface KnownDigest<A> {
  readonly digest: Buffer
  readonly tenant: A
}

/**
 * Whose key `key` is, comparing its digest with every known one in constant time (each one,
 * whichever matches, so the time taken tells nothing of which did); undefined if none.
 */
export const matchKey = <A>(known: ReadonlyArray<KnownDigest<A>>, key: string): A | undefined => {
  const digest = keyDigest(key)
  let found: A | undefined
  for (const entry of known) if (timingSafeEqual(entry.digest, digest)) found = entry.tenant
  return found
}

/**
 * Finds whose key a request's `X-API-Key` holds (see {@link matchKey}). Answers the owner, or why the request is refused (naming the header, never any key).
 */
export const makeApiKeyCheck = <A>(
  known: ReadonlyArray<KnownDigest<A>>
): (headers: IncomingHttpHeaders) => { readonly tenant: A } | string => {
  return (headers) => {
    const sent = headers[apiKeyHeader.toLowerCase()]
    if (sent === undefined || sent === "") return `missing ${apiKeyHeader} header: send the server's API key in it`
    const found = matchKey(known, Array.isArray(sent) ? sent.join(",") : sent)
    return found === undefined ? `the ${apiKeyHeader} header does not hold this server's API key` : { tenant: found }
  }
}
