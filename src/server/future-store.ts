import { randomBytes } from "node:crypto"
import { Deferred, Effect, Option } from "effect"
import type { ForwardBackwardOutput, SampleResponse } from "../ports/index.js"

/** Who is to blame for a failed request, as the protocol reports it. */
export type ErrorCategory = "user" | "server" | "unknown"

/** What a finished request answers: JSON, or a result that has a protobuf form too. */
export type FutureResult =
  | { readonly _tag: "Json"; readonly body: unknown }
  | { readonly _tag: "ForwardBackward"; readonly output: ForwardBackwardOutput }
  | { readonly _tag: "Sample"; readonly response: SampleResponse }

/** Time a request waited for its turn, and the time it then ran. */
export interface FutureTimings {
  readonly queueMs: number
  readonly computeMs: number
}

/** How a request ended. */
export type FutureOutcome =
  | { readonly _tag: "Done"; readonly result: FutureResult; readonly timings: FutureTimings }
  | { readonly _tag: "Failed"; readonly error: string; readonly category: ErrorCategory; readonly timings: FutureTimings }

/** A request the server accepted and answers later. */
export interface FutureHandle {
  readonly requestId: string
  /** Settles the future; only the first call counts. */
  readonly complete: (outcome: FutureOutcome) => void
}

/** What a request id refers to. */
export type FutureLookup =
  | { readonly _tag: "Unknown" }
  | { readonly _tag: "Expired" }
  | {
    readonly _tag: "Live"
    /** The outcome, waiting up to `ms` for it; none if the request is still running then. */
    readonly await: (ms: number) => Effect.Effect<Option.Option<FutureOutcome>>
  }

/** The futures of one server: results kept for a while after they are ready. */
export interface FutureStore {
  readonly create: () => FutureHandle
  readonly lookup: (requestId: string) => FutureLookup
  /** Drops results older than the time to live. */
  readonly sweep: () => void
}

interface Entry {
  readonly deferred: Deferred.Deferred<FutureOutcome>
  completedAt?: number
}

/**
 * A store whose results live `ttlMs` after they complete. Ids are `<instance>-<n>`: a
 * counter below the next one that is no longer held is a future this server issued and
 * dropped (410, resubmit), while an id it never issued is unknown (404). The counter keeps
 * that knowledge without remembering every expired id.
 */
export const makeFutureStore = (ttlMs: number, now: () => number = Date.now): FutureStore => {
  const instance = randomBytes(6).toString("hex")
  const entries = new Map<string, Entry>()
  let next = 0

  const create = (): FutureHandle => {
    const requestId = `${instance}-${next}`
    next += 1
    const entry: Entry = { deferred: Deferred.makeUnsafe<FutureOutcome>() }
    entries.set(requestId, entry)
    return {
      requestId,
      complete: (outcome) => {
        if (Deferred.doneUnsafe(entry.deferred, Effect.succeed(outcome))) entry.completedAt = now()
      }
    }
  }

  const isExpired = (entry: Entry): boolean => entry.completedAt !== undefined && now() - entry.completedAt > ttlMs

  const issued = (requestId: string): boolean => {
    const match = /^([0-9a-f]+)-(\d+)$/.exec(requestId)
    return match !== null && match[1] === instance && Number(match[2]) < next
  }

  const lookup = (requestId: string): FutureLookup => {
    const entry = entries.get(requestId)
    if (entry === undefined) return issued(requestId) ? { _tag: "Expired" } : { _tag: "Unknown" }
    if (isExpired(entry)) {
      entries.delete(requestId)
      return { _tag: "Expired" }
    }
    return { _tag: "Live", await: (ms) => Effect.timeoutOption(Deferred.await(entry.deferred), ms) }
  }

  const sweep = () => {
    for (const [requestId, entry] of entries) if (isExpired(entry)) entries.delete(requestId)
  }

  return { create, lookup, sweep }
}
