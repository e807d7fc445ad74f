import { Cause, Data, Effect, Schedule } from "effect"
import type { TinkerRetryOptions } from "./tinker-options.js"

/**
 * A try that failed in a way that may pass (a 408, 409, 429 or 5xx, a lost connection): why
 * (`HTTP 503`, `cannot reach ...`), its status, and, where the wait a reply asks for is
 * honoured, its headers. `cause` is what the HTTP client threw, when it threw. `refused`
 * marks a connection nothing accepted, which passes only as soon as a restarting server
 * listens again: see {@link giveUpOnRefusals}.
 */
export class TransientFailure extends Data.TaggedError("TransientFailure")<{
  readonly message: string
  readonly status?: number | undefined
  readonly headers?: Headers | undefined
  readonly cause?: unknown
  readonly refused?: boolean | undefined
}> {}

/**
 * The wait a reply asks for, in milliseconds: `retry-after-ms`, else `retry-after` in
 * seconds or as an HTTP date; undefined when it asks for none.
 */
export const retryAfterMs = (headers: Headers | undefined, now: number): number | undefined => {
  const millis = Number.parseFloat(headers?.get("retry-after-ms") ?? "")
  if (Number.isFinite(millis)) return millis
  const after = headers?.get("retry-after")
  if (after === undefined || after === null) return undefined
  const seconds = Number.parseFloat(after)
  if (Number.isFinite(seconds)) return seconds * 1000
  const date = Date.parse(after)
  return Number.isFinite(date) ? date - now : undefined
}

// A wait asked for beyond a minute (or in the past) is more likely a mistake than a plan.
const longestAskedWaitMs = 60_000

const askedWaitMs = (input: unknown, now: number): number | undefined => {
  if (!(input instanceof TransientFailure)) return undefined
  const asked = retryAfterMs(input.headers, now)
  return asked !== undefined && asked >= 0 && asked <= longestAskedWaitMs ? asked : undefined
}

/**
 * The backoff between tries of a failing request: `initialBackoffMs` (1 s) doubling with each
 * retry up to `maxBackoffMs` (30 s), unless the failure is a {@link TransientFailure} whose
 * reply asks for a wait of at most a minute, which it then gets. It never stops by itself:
 * see {@link giveUpAfter}.
 */
export const retryBackoff = (
  timings: Required<Pick<TinkerRetryOptions, "initialBackoffMs" | "maxBackoffMs">>
): Schedule.Schedule<unknown, unknown> =>
  Schedule.min([Schedule.exponential(timings.initialBackoffMs), Schedule.spaced(timings.maxBackoffMs)]).pipe(
    Schedule.modifyDelay(({ duration, input, now }) => Effect.succeed(askedWaitMs(input, now) ?? duration))
  )

/** Ends a retry schedule at once on a failure that is not a {@link TransientFailure}: that one is for good. */
export const whileTransient = <Output, Input, Error, Env>(
  self: Schedule.Schedule<Output, Input, Error, Env>
): Schedule.Schedule<Output, Input, Error, Env> => Schedule.while(self, ({ input }) => input instanceof TransientFailure)

/**
 * Stops a schedule once `limitMs` (the settings' `giveUpAfterMs`, 5 min) have passed since
 * `since(now)`, the time its failures are counted from, when it is asked for another try.
 */
export const giveUpAfter = (limitMs: number, since: (now: number) => number) =>
<Output, Input, Error, Env>(self: Schedule.Schedule<Output, Input, Error, Env>): Schedule.Schedule<Output, Input, Error, Env> =>
  Schedule.while(self, ({ now }) => now - since(now) < limitMs)

const isRefusal = (input: unknown): boolean => input instanceof TransientFailure && input.refused === true

/**
 * Stops a schedule once `tries` tries in a row were refused connections (any other failure
 * starts the count again). Nothing listening is either a server restarting, which listens
 * again within seconds, or a wrong address, which never will: a few tries tell them apart.
 * The count starts afresh each time the schedule is used.
 */
export const giveUpOnRefusals = (tries: number) =>
<Output, Input, Error, Env>(self: Schedule.Schedule<Output, Input, Error, Env>): Schedule.Schedule<Output, Input, Error, Env> =>
  Schedule.fromStep(Effect.map(Schedule.toStep(self), (step) => {
    let inARow = 0
    return (now: number, input: Input) =>
      Effect.flatMap(step(now, input), (result) => {
        inARow = isRefusal(input) ? inARow + 1 : 0
        // Only a refusal ends it, even when `tries` is 0 or less (then the first one does).
        return inARow > 0 && inARow >= tries ? Cause.done(result[0]) : Effect.succeed(result)
      })
  }))
