import { seedMix } from "../ports/seed-mix.js"

/**
 * Simulated trouble between a client and the server: error statuses, lost replies and
 * latency, drawn from a seed so that a test or benchmark sees the same faults every run.
 */
export interface FaultOptions {
  /** Share of requests answered 503. */
  readonly rate5xx?: number
  /** Share answered 429 with `retry-after-ms`. */
  readonly rate429?: number
  /** Share answered 408: a try-again for `retrieve_future`, a timeout for the others. */
  readonly rate408?: number
  /**
   * Share of `retrieve_future` polls answered 410 (the promise expired). A poll of a result the
   * server keeps until it is retrieved (a training request's) is answered 408 instead: the
   * server never lets such a result expire, so a real answer to that poll is never a 410 (the
   * Python SDK could not survive one), while a sample's poll gets the 410 and is resubmitted.
   */
  readonly rate410?: number
  /** Share whose connection is destroyed without an answer. */
  readonly rateDrop?: number
  /** Added before every answer (not `/healthz`). */
  readonly latencyMs?: number
  /** Picks the faults; the same seed gives the same faults to the same sequence of requests. */
  readonly seed?: number
}

/** The kinds of fault, as counted in the server's stats. */
export type FaultKind = "503" | "429" | "408" | "410" | "drop"

/**
 * A fault chosen for one request. `after` faults hit submissions only: the request is
 * applied and then its reply is lost, which is what proves a client's retries are
 * exactly-once; `before` faults answer without applying anything.
 */
export interface FaultDecision {
  readonly kind: FaultKind
  readonly timing: "before" | "after"
}

/** What kind of request a fault is drawn for. */
export interface FaultTarget {
  /** A `retrieve_future` poll: the only request a 410 can hit. */
  readonly poll: boolean
  /** A request that changes state, so a fault may come after it was applied. */
  readonly submission: boolean
  /** A poll of a result kept until it is retrieved: a 410 drawn for it is sent as a 408. */
  readonly kept?: boolean
}

/** Chooses the fault (if any) of each request, and the latency to add. */
export interface FaultPlan {
  readonly latencyMs: number
  /** The fault of the `ordinal`-th request the server has seen (0-based). */
  readonly decide: (ordinal: number, target: FaultTarget) => FaultDecision | undefined
}

/**
 * A uniform number in [0, 1) that depends only on the seed, the request ordinal and which
 * draw of that request it is, so decisions do not depend on how requests interleave.
 * The mix spreads consecutive ordinals over unrelated draws.
 */
const uniform = (seed: number, ordinal: number, draw: number): number =>
  seedMix(seedMix(seedMix(seed) ^ ordinal) + draw * 0x9e3779b9) / 2 ** 32

const rateProblem = (name: string, rate: number | undefined): string | undefined =>
  rate === undefined || (rate >= 0 && rate <= 1) ? undefined : `faults.${name} must be in [0, 1], got ${rate}`

/**
 * The plan for `options`; throws on rates outside [0, 1] or summing past 1, or a negative
 * latency. Rates are tried in a fixed order (503, 429, 408, 410, drop) on one draw, so each
 * is the share of requests it hits; a 410 drawn for a request that is not a poll is none, and
 * one drawn for a poll of a kept result is a 408 (see {@link FaultOptions.rate410}).
 */
export const makeFaultPlan = (options: FaultOptions = {}): FaultPlan => {
  const rates: ReadonlyArray<readonly [FaultKind, string, number | undefined]> = [
    ["503", "rate5xx", options.rate5xx],
    ["429", "rate429", options.rate429],
    ["408", "rate408", options.rate408],
    ["410", "rate410", options.rate410],
    ["drop", "rateDrop", options.rateDrop]
  ]
  for (const [, name, rate] of rates) {
    const problem = rateProblem(name, rate)
    if (problem !== undefined) throw new Error(problem)
  }
  const total = rates.reduce((sum, [, , rate]) => sum + (rate ?? 0), 0)
  if (total > 1 + 1e-9) throw new Error(`the fault rates add up to ${total}, more than 1`)
  const latencyMs = options.latencyMs ?? 0
  if (!(Number.isFinite(latencyMs) && latencyMs >= 0)) throw new Error(`faults.latencyMs must be >= 0, got ${latencyMs}`)
  const seed = options.seed ?? 0

  const decide = (ordinal: number, target: FaultTarget): FaultDecision | undefined => {
    if (total === 0) return undefined
    const u = uniform(seed, ordinal, 0)
    let upper = 0
    for (const [kind, , rate] of rates) {
      upper += rate ?? 0
      if (u >= upper) continue
      if (kind === "410" && !target.poll) return undefined
      const timing = target.submission && uniform(seed, ordinal, 1) < 0.5 ? "after" : "before"
      return { kind: kind === "410" && target.kept === true ? "408" : kind, timing }
    }
    return undefined
  }
  return { latencyMs, decide }
}
