import { Effect, Queue, Schedule, type Scope } from "effect"

/** A request accepted for its turn. */
export interface SequencedRequest {
  readonly requestId: string
  /** Submits the request to the backend; it must not wait for the result. */
  readonly start: Effect.Effect<void>
}

/** Where a request with a `seq_id` went. */
export type SequenceOffer =
  /** A new seq_id: its `start` will run in its turn. */
  | { readonly _tag: "Accepted"; readonly requestId: string }
  /** A seq_id seen before: the request id the first one got. */
  | { readonly _tag: "Duplicate"; readonly requestId: string }
  /** A seq_id applied so long ago that its request id is no longer kept. */
  | { readonly _tag: "Stale" }
  /** A seq_id too far past the next one to run: no client has that many requests in flight. */
  | { readonly _tag: "TooFarAhead"; readonly next: number }

/**
 * Runs one model's requests strictly in `seq_id` order (1, 2, 3, ...), each once, whatever
 * order they arrive in: a request waits until every lower seq_id has started.
 */
export interface ModelSequencer {
  /**
   * Registers request `seq`: for a new seq_id, `accept` makes its future (request id) and its
   * `start`, which submits it to the backend in turn. Synchronous, so two copies of one
   * request arriving together cannot both pass.
   */
  readonly offer: (seq: number, accept: () => SequencedRequest) => SequenceOffer
  /** Succeeds once every request accepted so far has started (none waits for its turn). */
  readonly drained: Effect.Effect<void>
}

// How many seq_ids past the next one may wait, and how many started ones are remembered.
const maxAhead = 100_000
const remembered = 4096

/** A sequencer whose worker fiber lives in `scope`. */
export const makeModelSequencer = (scope: Scope.Scope): Effect.Effect<ModelSequencer> =>
  Effect.gen(function*() {
    const arrivals = yield* Queue.unbounded<readonly [number, Effect.Effect<void>]>()
    const seen = new Map<number, string>()
    let next = 1
    let accepted = 0

    // One worker puts arrivals in order; each start only submits, so the next follows at once.
    const worker = Effect.gen(function*() {
      const waiting = new Map<number, Effect.Effect<void>>()
      while (true) {
        const [seq, start] = yield* Queue.take(arrivals)
        waiting.set(seq, start)
        for (let turn = waiting.get(next); turn !== undefined; turn = waiting.get(next)) {
          waiting.delete(next)
          next += 1
          seen.delete(next - 1 - remembered)
          // A turn settles its own future; a defect in one must not stop the model's queue.
          yield* Effect.catchCause(turn, (cause) => Effect.logError("sous serve: a queued request failed", cause))
        }
      }
    })
    yield* Effect.forkIn(worker, scope)

    const offer = (seq: number, accept: () => SequencedRequest): SequenceOffer => {
      const original = seen.get(seq)
      if (original !== undefined) return { _tag: "Duplicate", requestId: original }
      if (seq < next) return { _tag: "Stale" }
      if (seq - next >= maxAhead) return { _tag: "TooFarAhead", next }
      const { requestId, start } = accept()
      seen.set(seq, requestId)
      accepted += 1
      Queue.offerUnsafe(arrivals, [seq, start])
      return { _tag: "Accepted", requestId }
    }

    // Seq_ids start at 1 and each accepted one starts exactly once, in order: all have
    // started when the next expected seq_id is one past the number accepted. Polled, since
    // it is asked once per unloaded model.
    const drained = Effect.suspend(() => (next > accepted ? Effect.void : Effect.fail("waiting" as const))).pipe(
      Effect.retry(Schedule.spaced(20)),
      Effect.orDie
    )

    return { offer, drained }
  })
