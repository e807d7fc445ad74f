import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeModelSequencer, type SequenceRefusal, sequenceRefusalMessage } from "../../src/server/model-sequencer.js"
import { until } from "./fixtures.js"

describe("makeModelSequencer", () => {
  it.live("starts requests in seq_id order, once each, and forgets only long-started ones", () =>
    Effect.gen(function*() {
      const sequencer = yield* makeModelSequencer(yield* Effect.scope)
      const started: Array<number> = []
      const offer = (seq: number) =>
        sequencer.offer(seq, () => ({ requestId: `r${seq}`, start: Effect.sync(() => started.push(seq)), refuse: () => Effect.die("refused") }))
      assert.deepStrictEqual(offer(3), { _tag: "Accepted", requestId: "r3" })
      assert.deepStrictEqual(offer(2), { _tag: "Accepted", requestId: "r2" })
      yield* Effect.yieldNow
      assert.deepStrictEqual(started, [])
      assert.deepStrictEqual(offer(3), { _tag: "Duplicate", requestId: "r3" })
      assert.deepStrictEqual(offer(1), { _tag: "Accepted", requestId: "r1" })
      yield* until(() => started.length === 3)
      assert.deepStrictEqual(started, [1, 2, 3])

      assert.deepStrictEqual(offer(4 + 100_000), { _tag: "TooFarAhead", next: 4 })
      for (let seq = 4; seq <= 5000; seq++) offer(seq)
      yield* until(() => started.length === 5000)
      assert.deepStrictEqual(started, Array.from({ length: 5000 }, (_, i) => i + 1))
      // The last 4096 started seq_ids still answer their request id; older ones are stale.
      assert.deepStrictEqual(offer(5000 - 4095), { _tag: "Duplicate", requestId: `r${5000 - 4095}` })
      assert.deepStrictEqual(offer(5000 - 4096), { _tag: "Stale" })
      assert.deepStrictEqual(offer(1), { _tag: "Stale" })
      assert.strictEqual(started.length, 5000)
    }).pipe(Effect.scoped))

  it.live("refuses the requests waiting behind a seq_id that never arrives, then moves on", () =>
    Effect.gen(function*() {
      const gapTimeoutMs = 200
      const sequencer = yield* makeModelSequencer(yield* Effect.scope, gapTimeoutMs)
      const started: Array<number> = []
      const refused = new Map<number, SequenceRefusal>()
      const offer = (seq: number) =>
        sequencer.offer(seq, () => ({
          requestId: `r${seq}`,
          start: Effect.sync(() => started.push(seq)),
          refuse: (refusal) => Effect.sync(() => refused.set(seq, refusal))
        }))
      offer(1)
      // seq_id 2 is never sent (the SDK failed to serialize it: a token id of 2^40).
      offer(3)
      offer(4)
      yield* Effect.sleep(gapTimeoutMs / 2)
      assert.deepStrictEqual(started, [1])
      assert.strictEqual(refused.size, 0)
      let drained = false
      yield* Effect.forkChild(Effect.tap(sequencer.drained, () => Effect.sync(() => (drained = true))))
      yield* Effect.yieldNow
      assert.isFalse(drained)

      // The requests behind the gap are refused, naming the missing seq_id, and the order
      // moves past them: later seq_ids run.
      yield* until(() => refused.size === 2)
      const gap = { _tag: "GapTimedOut", missing: [2, 2], refused: [3, 4], timeoutMs: gapTimeoutMs } as const
      assert.deepStrictEqual(Object.fromEntries(refused), { 3: gap, 4: gap })
      yield* until(() => drained)
      offer(6)
      offer(5)
      yield* until(() => started.length === 3)
      assert.deepStrictEqual(started, [1, 5, 6])

      // The missing seq_id, come late, is refused too (never applied after its followers);
      // a refused seq_id asked again answers its refused request.
      assert.deepStrictEqual(offer(2), { _tag: "Accepted", requestId: "r2" })
      yield* until(() => refused.size === 3)
      assert.deepStrictEqual(refused.get(2), { _tag: "ArrivedAfterGap", seq: 2, timeoutMs: gapTimeoutMs })
      assert.deepStrictEqual(offer(3), { _tag: "Duplicate", requestId: "r3" })

      // A gap of several seq_ids, with a request past a second gap: only the first run is refused.
      offer(9)
      offer(11)
      yield* until(() => refused.size === 4)
      assert.deepStrictEqual(refused.get(9), { _tag: "GapTimedOut", missing: [7, 8], refused: [9, 9], timeoutMs: gapTimeoutMs })
      yield* until(() => refused.size === 5)
      assert.deepStrictEqual(refused.get(11), { _tag: "GapTimedOut", missing: [10, 10], refused: [11, 11], timeoutMs: gapTimeoutMs })
      offer(12)
      yield* until(() => started.length === 4)
      assert.deepStrictEqual(started, [1, 5, 6, 12])
    }).pipe(Effect.scoped))

  it("tells the client which seq_id never came, which requests were not applied, and what to do", () => {
    assert.strictEqual(
      sequenceRefusalMessage("s:train:0", { _tag: "GapTimedOut", missing: [3, 3], refused: [4, 7], timeoutMs: 60_000 }),
      "seq_id 3 of model s:train:0 never arrived within 60 s, so seq_ids 4..7, queued after it, were not applied: " +
        "later seq_ids run again; to keep this model's training as the client meant it, create a new model " +
        "(or load a checkpoint) and resend from there"
    )
    assert.strictEqual(
      sequenceRefusalMessage("s:train:0", { _tag: "ArrivedAfterGap", seq: 3, timeoutMs: 60_000 }),
      "seq_id 3 of model s:train:0 arrived after the server stopped waiting for it (60 s), and the requests queued after it were refused: it was not applied"
    )
  })
})
