import { assert, describe, it } from "@effect/vitest"
import { epochOrder, holdOut, takeBatch } from "../../../src/stages/data/data-order.js"

describe("epochOrder", () => {
  it("is a permutation that depends only on seed and epoch", () => {
    const order = epochOrder(50, 7, 0, true)
    assert.deepStrictEqual([...order].sort((a, b) => a - b), Array.from({ length: 50 }, (_, index) => index))
    assert.deepStrictEqual(epochOrder(50, 7, 0, true), order)
    assert.notDeepEqual(epochOrder(50, 7, 1, true), order)
    assert.notDeepEqual(epochOrder(50, 8, 0, true), order)
  })

  it("keeps file order when not shuffling", () => {
    assert.deepStrictEqual(epochOrder(4, 7, 3, false), [0, 1, 2, 3])
  })
})

describe("takeBatch", () => {
  it("continues into the next epoch so every batch is full", () => {
    const first = takeBatch({ epoch: 0, position: 0 }, 5, 3, 1, false)
    assert.deepStrictEqual(first, { indices: [0, 1, 2], cursor: { epoch: 0, position: 3 } })
    const second = takeBatch(first.cursor, 5, 3, 1, false)
    assert.deepStrictEqual(second, { indices: [3, 4, 0], cursor: { epoch: 1, position: 1 } })
  })

  it("gives the same batches from a cursor as a run that got there step by step", () => {
    let cursor = { epoch: 0, position: 0 }
    const batches = []
    for (let step = 0; step < 10; step++) {
      const next = takeBatch(cursor, 13, 4, 99, true)
      batches.push(next)
      cursor = next.cursor
    }
    const resumed = takeBatch(batches[5]!.cursor, 13, 4, 99, true)
    assert.deepStrictEqual(resumed, batches[6])
  })
})

describe("holdOut", () => {
  it("splits into disjoint sets that cover every example", () => {
    const split = holdOut(100, 0.1, 3)
    assert.strictEqual(split.eval.length, 10)
    assert.strictEqual(split.train.length, 90)
    assert.deepStrictEqual([...split.train, ...split.eval].sort((a, b) => a - b), Array.from({ length: 100 }, (_, index) => index))
    assert.deepStrictEqual(holdOut(100, 0.1, 3), split)
  })
})
