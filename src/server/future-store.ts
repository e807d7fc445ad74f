import { createHmac, randomBytes, timingSafeEqual } from "node:crypto"
import { Deferred, Effect, Option } from "effect"
import type { ForwardBackwardOutput, SampleResponse } from "../ports/index.js"
import { makeServerInstance, type ServerInstance } from "./server-instance.js"

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
  /** An id of another run of the server (see {@link ServerInstance}): its state is lost. */
  | { readonly _tag: "OtherRun"; readonly instance: string }
  /** A resendable result (a sample) that expired: the client resubmits (410). */
  | { readonly _tag: "Expired" }
  /** A kept result (training) past its time to live (see {@link Retention}): it ran, and must not be resent. */
  | { readonly _tag: "Dropped" }
  | {
    readonly _tag: "Live"
    /** The outcome, waiting up to `ms` for it; none if the request is still running then. */
    readonly await: (ms: number) => Effect.Effect<Option.Option<FutureOutcome>>
  }

/**
 * How long a result is kept. `resend`: for the time to live after it completes; the client
 * submits the request again when it is gone (the Python SDK does so for samples alone).
 * `keep`: until it has been retrieved once, then for the time to live; unretrieved, for the
 * store's `unretrievedMs` while `alive` holds (its model is held), else for the time to live
 * after it completes. The Python SDK treats a 410 on any future but a sample's as fatal and
 * has no way to resubmit it, so such a result must not expire before its client has seen it.
 */
export type Retention = { readonly _tag: "resend" } | { readonly _tag: "keep"; readonly alive: () => boolean }

/** The futures of one server: results kept for a while after they are ready, each seen by its owner alone. */
export interface FutureStore {
  /** A new future of `owner` (the name of an API key); resendable unless `retention` says otherwise. */
  readonly create: (owner: string, retention?: Retention) => FutureHandle
  /** What `requestId` is to `owner`: another key's future is `Unknown`, as one never issued. */
  readonly lookup: (requestId: string, owner: string) => FutureLookup
  /** Whether `requestId` is a future this run issued to `owner` that is kept until retrieved. */
  readonly kept: (requestId: string, owner: string) => boolean
  /** Drops results past their time to live. */
  readonly sweep: () => void
}

interface Entry {
  readonly owner: string
  readonly retention: Retention
  readonly deferred: Deferred.Deferred<FutureOutcome>
  completedAt?: number
  retrievedAt?: number
}

const nonceBytes = 8
const tagBytes = 8
const resend: Retention = { _tag: "resend" }

/** Settings of a {@link makeFutureStore} beyond the time to live. */
export interface FutureStoreOptions {
  /** The run whose marker the ids carry; a new one if not given. */
  readonly instance?: ServerInstance
  /** Longest a kept result waits unretrieved while its model lives. Default: no limit. */
  readonly unretrievedMs?: number
}

/**
 * A store whose results live `ttlMs` after they complete (kept ones: after they are first
 * retrieved; see {@link Retention}). Ids are `<instance>-<nonce><tag>` (base64url): a random
 * 64-bit nonce and a 64-bit HMAC of the nonce, the owner and the retention under a secret of
 * this run. So an id is unguessable, none tells anything of another, and the server can tell,
 * without remembering dropped ids, that it issued an id to this owner and dropped it (410,
 * resubmit; or, for a kept one, "it ran, do not resend") rather than never issued it (404).
 */
export const makeFutureStore = (ttlMs: number, now: () => number = Date.now, options: FutureStoreOptions = {}): FutureStore => {
  const instance = options.instance ?? makeServerInstance()
  const unretrievedMs = options.unretrievedMs ?? Infinity
  const secret = randomBytes(32)
  const entries = new Map<string, Entry>()

  const tag = (nonce: Buffer, owner: string, retention: Retention["_tag"]): Buffer =>
    createHmac("sha256", secret).update(nonce).update(`${retention}\n${owner}`, "utf8").digest().subarray(0, tagBytes)

  const create = (owner: string, retention: Retention = resend): FutureHandle => {
    const nonce = randomBytes(nonceBytes)
    const requestId = `${instance.id}-${Buffer.concat([nonce, tag(nonce, owner, retention._tag)]).toString("base64url")}`
    const entry: Entry = { owner, retention, deferred: Deferred.makeUnsafe<FutureOutcome>() }
    entries.set(requestId, entry)
    return {
      requestId,
      complete: (outcome) => {
        if (Deferred.doneUnsafe(entry.deferred, Effect.succeed(outcome))) entry.completedAt = now()
      }
    }
  }

  const isExpired = (entry: Entry): boolean => {
    if (entry.completedAt === undefined) return false
    const at = now()
    if (entry.retention._tag === "resend") return at - entry.completedAt > ttlMs
    if (entry.retrievedAt !== undefined) return at - entry.retrievedAt > ttlMs
    return at - entry.completedAt > (entry.retention.alive() ? unretrievedMs : ttlMs)
  }

  const idPattern = /^([0-9a-f]{12})-([A-Za-z0-9_-]{22})$/

  // How this run issued `requestId` to `owner`, if it did.
  const issuedAs = (requestId: string, owner: string): Retention["_tag"] | undefined => {
    const match = idPattern.exec(requestId)
    if (match === null || match[1] !== instance.id) return undefined
    const bytes = Buffer.from(match[2]!, "base64url")
    const nonce = bytes.subarray(0, nonceBytes)
    const sent = bytes.subarray(nonceBytes)
    if (sent.length !== tagBytes) return undefined
    return (["resend", "keep"] as const).find((retention) => timingSafeEqual(sent, tag(nonce, owner, retention)))
  }

  const gone = (requestId: string, owner: string): FutureLookup => {
    const retention = issuedAs(requestId, owner)
    if (retention !== undefined) return { _tag: retention === "resend" ? "Expired" : "Dropped" }
    const other = idPattern.test(requestId) ? instance.otherRun(requestId) : undefined
    return other === undefined ? { _tag: "Unknown" } : { _tag: "OtherRun", instance: other }
  }

  const lookup = (requestId: string, owner: string): FutureLookup => {
    const entry = entries.get(requestId)
    if (entry !== undefined && entry.owner !== owner) return { _tag: "Unknown" }
    if (entry === undefined) return gone(requestId, owner)
    if (isExpired(entry)) {
      entries.delete(requestId)
      return gone(requestId, owner)
    }
    // A kept result's time to live starts when a poll first gets it.
    const retrieved = (outcome: Option.Option<FutureOutcome>) =>
      Effect.sync(() => {
        if (Option.isSome(outcome) && entry.retrievedAt === undefined) entry.retrievedAt = now()
      })
    return { _tag: "Live", await: (ms) => Effect.tap(Effect.timeoutOption(Deferred.await(entry.deferred), ms), retrieved) }
  }

  const kept = (requestId: string, owner: string) => issuedAs(requestId, owner) === "keep"

  const sweep = () => {
    for (const [requestId, entry] of entries) if (isExpired(entry)) entries.delete(requestId)
  }

  return { create, lookup, kept, sweep }
}
