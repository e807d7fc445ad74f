import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeModelSequencer } from "../../src/server/model-sequencer.js"
import { until } from "./fixtures.js"

describe("makeModelSequencer", () => {
  it.live("starts requests in seq_id order, once each, and forgets only long-started ones", () =>
    Effect.gen(function*() {
      const sequencer = yield* makeModelSequencer(yield* Effect.scope)
      const started: Array<number> = []
      const offer = (seq: number) =>
        sequencer.offer(seq, () => ({ requestId: `r${seq}`, start: Effect.sync(() => started.push(seq)) }))
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
})
