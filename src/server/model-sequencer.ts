import { Clock, Effect, Option, Queue, Schedule, type Scope } from "effect"

/**
 * Why the sequencer refused a request without running it:
 * - `GapTimedOut`: seq_ids `missing` never arrived within the gap timeout, so the requests
 *   waiting behind them, seq_ids `refused`, were not applied;
 * - `ArrivedAfterGap`: the request is one of those missing seq_ids, come too late.
 */
export type SequenceRefusal =
  | {
    readonly _tag: "GapTimedOut"
    readonly missing: readonly [first: number, last: number]
    readonly refused: readonly [first: number, last: number]
    readonly timeoutMs: number
  }
  | { readonly _tag: "ArrivedAfterGap"; readonly seq: number; readonly timeoutMs: number }

const range = ([first, last]: readonly [number, number]) => (first === last ? `seq_id ${first}` : `seq_ids ${first}..${last}`)

/** What a client of `modelId` is told about a {@link SequenceRefusal}, and what to do. */
export const sequenceRefusalMessage = (modelId: string, refusal: SequenceRefusal): string => {
  const seconds = refusal.timeoutMs / 1000
  return refusal._tag === "GapTimedOut"
    ? `${range(refusal.missing)} of model ${modelId} never arrived within ${seconds} s, so ${range(refusal.refused)}, ` +
      `queued after it, ${refusal.refused[0] === refusal.refused[1] ? "was" : "were"} not applied: later seq_ids run again; ` +
      `to keep this model's training as the client meant it, create a new model (or load a checkpoint) and resend from there`
    : `seq_id ${refusal.seq} of model ${modelId} arrived after the server stopped waiting for it (${seconds} s), ` +
      `and the requests queued after it were refused: it was not applied`
}

/** A request accepted for its turn. */
export interface SequencedRequest {
  readonly requestId: string
  /** Submits the request to the backend; it must not wait for the result. */
  readonly start: Effect.Effect<void>
  /** Settles the request's future as failed instead, for `refusal`; it never starts. */
  readonly refuse: (refusal: SequenceRefusal) => Effect.Effect<void>
}

/** Where a request with a `seq_id` went. */
export type SequenceOffer =
  /** A new seq_id: its `start` will run in its turn (or its `refuse`, if it came too late). */
  | { readonly _tag: "Accepted"; readonly requestId: string }
  /** A seq_id seen before: the request id the first one got. */
  | { readonly _tag: "Duplicate"; readonly requestId: string }
  /** A seq_id applied so long ago that its request id is no longer kept. */
  | { readonly _tag: "Stale" }
  /** A seq_id too far past the next one to run: no client has that many requests in flight. */
  | { readonly _tag: "TooFarAhead"; readonly next: number }

/**
 * Runs one model's requests strictly in `seq_id` order (1, 2, 3, ...), each once, whatever
 * order they arrive in: a request waits until every lower seq_id has started, or until the
 * gap timeout (see {@link makeModelSequencer}).
 */
export interface ModelSequencer {
  /**
   * Registers request `seq`: for a new seq_id, `accept` makes its future (request id), its
   * `start`, which submits it to the backend in turn, and its `refuse`. Synchronous, so two
   * copies of one request arriving together cannot both pass.
   */
  readonly offer: (seq: number, accept: () => SequencedRequest) => SequenceOffer
  /** Succeeds once every request accepted so far has started or been refused (none waits). */
  readonly drained: Effect.Effect<void>
}

/**
 * How long requests wait behind a missing seq_id before they are refused: the official SDK
 * retries a submission for up to 5 minutes, so a seq_id it is still retrying is never given
 * up on, while one it failed to send at all (a value it could not serialize) frees the queue.
 */
export const defaultGapTimeoutMs = 5 * 60 * 1000

// How many seq_ids past the next one may wait, and how many started ones are remembered.
const maxAhead = 100_000
const remembered = 4096

/**
 * A sequencer whose worker fiber lives in `scope`. When requests have waited `gapTimeoutMs`
 * behind a missing seq_id, the run of requests right behind the gap is refused (their futures
 * fail, naming the missing seq_id) and the order moves past them, so later requests run.
 *
 * Moving on rather than failing the model for good: a client learns of the gap from the
 * refused futures, and one that caught its own failed send and carried on (as the SDK lets a
 * program do) keeps a working model; requests that were queued behind the missing one were
 * made expecting it, so they are refused rather than applied out of context.
 */
export const makeModelSequencer = (scope: Scope.Scope, gapTimeoutMs: number = defaultGapTimeoutMs): Effect.Effect<ModelSequencer> =>
  Effect.gen(function*() {
    const arrivals = yield* Queue.unbounded<readonly [number, SequencedRequest]>()
    const seen = new Map<number, string>()
    let next = 1
    let accepted = 0
    let settled = 0

    // A turn settles its own future; a defect in one must not stop the model's queue.
    const guarded = (turn: Effect.Effect<void>) =>
      Effect.catchCause(turn, (cause) => Effect.logError("sous serve: a queued request failed", cause))

    // Moves the order one seq_id on, forgetting the one that falls out of memory.
    const advance = () => {
      next += 1
      seen.delete(next - 1 - remembered)
    }

    // Refuses the run of waiting requests right behind the missing seq_ids at `next`, and
    // moves the order past them.
    const refuseBehindGap = (waiting: Map<number, SequencedRequest>) =>
      Effect.gen(function*() {
        let first = Number.POSITIVE_INFINITY
        for (const seq of waiting.keys()) first = Math.min(first, seq)
        let last = first
        while (waiting.has(last + 1)) last += 1
        const refusal: SequenceRefusal = { _tag: "GapTimedOut", missing: [next, first - 1], refused: [first, last], timeoutMs: gapTimeoutMs }
        while (next <= last) {
          const request = waiting.get(next)
          waiting.delete(next)
          advance()
          if (request !== undefined) {
            settled += 1
            yield* guarded(request.refuse(refusal))
          }
        }
      })

    // One worker puts arrivals in order; each start only submits, so the next follows at once.
    const worker = Effect.gen(function*() {
      const waiting = new Map<number, SequencedRequest>()
      // When the requests now waiting began to wait for `next`.
      let gapSince = 0
      while (true) {
        const before = next
        const wasEmpty = waiting.size === 0
        const arrival = wasEmpty
          ? Option.some(yield* Queue.take(arrivals))
          : yield* Queue.take(arrivals).pipe(Effect.timeoutOption(Math.max(0, gapSince + gapTimeoutMs - (yield* Clock.currentTimeMillis))))
        if (Option.isNone(arrival)) yield* refuseBehindGap(waiting)
        else if (arrival.value[0] < next) {
          // A seq_id the order moved past (see `offer`): too late to run.
          const [seq, request] = arrival.value
          settled += 1
          yield* guarded(request.refuse({ _tag: "ArrivedAfterGap", seq, timeoutMs: gapTimeoutMs }))
        } else waiting.set(...arrival.value)
        for (let turn = waiting.get(next); turn !== undefined; turn = waiting.get(next)) {
          waiting.delete(next)
          advance()
          settled += 1
          yield* guarded(turn.start)
        }
        if (waiting.size > 0 && (wasEmpty || next !== before)) gapSince = yield* Clock.currentTimeMillis
      }
    })
    yield* Effect.forkIn(worker, scope)

    const offer = (seq: number, accept: () => SequencedRequest): SequenceOffer => {
      const original = seen.get(seq)
      if (original !== undefined) return { _tag: "Duplicate", requestId: original }
      // Below `next` and within memory, a seq_id not seen is one a gap timeout skipped: it
      // gets a future that says so. Older ones cannot be told apart from applied ones.
      if (seq < next - remembered || seq < 1) return { _tag: "Stale" }
      if (seq - next >= maxAhead) return { _tag: "TooFarAhead", next }
      const request = accept()
      seen.set(seq, request.requestId)
      accepted += 1
      Queue.offerUnsafe(arrivals, [seq, request])
      return { _tag: "Accepted", requestId: request.requestId }
    }

    // All have started (or been refused) when as many have settled as were accepted. Polled,
    // since it is asked once per unloaded model.
    const drained = Effect.suspend(() => (settled >= accepted ? Effect.void : Effect.fail("waiting" as const))).pipe(
      Effect.retry(Schedule.spaced(20)),
      Effect.orDie
    )

    return { offer, drained }
  })
