import { Deferred, Effect } from "effect"
import type { Reply } from "./http-reply.js"

/** Whether a request is the first with its key, or a retry that gets the first one's answer. */
export type IdempotencyClaim =
  | { readonly _tag: "First"; readonly settle: (reply: Reply) => void }
  | { readonly _tag: "Replay"; readonly reply: Effect.Effect<Reply> }

/** Answers of submissions by `X-Idempotency-Key`, so a retried request is applied once. */
export interface IdempotencyCache {
  /**
   * Claims `key` of `owner` (an API key's name): the first request with it handles it and
   * settles the answer; every later one (even while the first still runs) is answered with
   * that answer, status and body. Owners never see nor evict each other's keys.
   */
  readonly claim: (owner: string, key: string) => IdempotencyClaim
  /** Drops answers settled longer than the time to live ago, so a quiet server holds none. */
  readonly sweep: () => void
}

interface Entry {
  readonly reply: Deferred.Deferred<Reply>
  settledAt?: number
}

/**
 * A cache that keeps an answer `ttlMs` after it was settled and at most `capacity` keys per
 * owner (the oldest go first), so a long run's retries cannot grow the server without bound,
 * and one client sending many keys cannot push another's answers out.
 */
export const makeIdempotencyCache = (ttlMs: number, capacity: number, now: () => number = Date.now): IdempotencyCache => {
  const owners = new Map<string, Map<string, Entry>>()

  const claim = (owner: string, key: string): IdempotencyClaim => {
    let entries = owners.get(owner)
    if (entries === undefined) owners.set(owner, entries = new Map())
    const existing = entries.get(key)
    if (existing !== undefined && !(existing.settledAt !== undefined && now() - existing.settledAt > ttlMs)) {
      return { _tag: "Replay", reply: Deferred.await(existing.reply) }
    }
    entries.delete(key)
    const entry: Entry = { reply: Deferred.makeUnsafe<Reply>() }
    entries.set(key, entry)
    for (const oldest of entries.keys()) {
      if (entries.size <= capacity) break
      // Never the one just claimed: capacity is at least 1.
      entries.delete(oldest)
    }
    return {
      _tag: "First",
      settle: (reply) => {
        if (Deferred.doneUnsafe(entry.reply, Effect.succeed(reply))) entry.settledAt = now()
      }
    }
  }

  const sweep = () => {
    const cutoff = now() - ttlMs
    for (const [owner, entries] of owners) {
      for (const [key, entry] of entries) if (entry.settledAt !== undefined && entry.settledAt < cutoff) entries.delete(key)
      if (entries.size === 0) owners.delete(owner)
    }
  }

  return { claim, sweep }
}
