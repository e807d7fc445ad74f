import { assert, describe, it } from "@effect/vitest"
import { batchesPerWindow, epochOrder, groupByLength, holdOut, takeBatch } from "../../../src/stages/data/data-order.js"

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

describe("groupByLength", () => {
  // 1,000 examples of lengths 1..60 in a pseudo-random pattern, batches of 8.
  const lengths = Array.from({ length: 1000 }, (_, index) => 1 + ((index * 37) % 60))
  const padded = (order: ReadonlyArray<number>, batchSize: number) => {
    let positions = 0
    for (let from = 0; from < order.length; from += batchSize) {
      const batch = order.slice(from, from + batchSize)
      positions += batch.length * Math.max(...batch.map((index) => lengths[index]!))
    }
    return positions
  }

  it("keeps every example once, pads far less, and depends only on seed and epoch", () => {
    const order = epochOrder(1000, 3, 0, true)
    const grouped = groupByLength(order, lengths, 8, 3, 0)
    assert.deepStrictEqual([...grouped].sort((a, b) => a - b), Array.from({ length: 1000 }, (_, index) => index))
    const real = lengths.reduce((sum, length) => sum + length, 0)
    // Random batches of 8 pad to about 7/9 of the longest length: about 60% of positions are padding.
    assert.isAbove(padded(order, 8) / real, 1.4)
    assert.isBelow(padded(grouped, 8) / real, 1.1)
    assert.deepStrictEqual(groupByLength(order, lengths, 8, 3, 0), grouped)
    assert.notDeepEqual(groupByLength(order, lengths, 8, 3, 1), grouped)
    // Batches are drawn within a window of the shuffled order, not across the epoch.
    const window = 8 * batchesPerWindow
    assert.deepStrictEqual([...grouped.slice(0, window)].sort((a, b) => a - b), [...order.slice(0, window)].sort((a, b) => a - b))
  })

  it("leaves a short last batch of a window last, and takeBatch resumes grouped batches exactly", () => {
    const order = epochOrder(20, 5, 0, true)
    const grouped = groupByLength(order, lengths, 8, 5, 0)
    // The window (all 20) sorted: its short last batch is the 4 longest, still at the end.
    const sorted = [...order].map((index) => lengths[index]!).sort((a, b) => a - b)
    assert.deepStrictEqual(grouped.slice(16).map((index) => lengths[index]), sorted.slice(16))
    let cursor = { epoch: 0, position: 0 }
    const stepwise = []
    for (let step = 0; step < 7; step++) {
      const next = takeBatch(cursor, 20, 8, 5, true, lengths.slice(0, 20))
      stepwise.push(next.indices)
      cursor = next.cursor
    }
    const resumed = takeBatch({ epoch: 2, position: 8 }, 20, 8, 5, true, lengths.slice(0, 20))
    assert.deepStrictEqual(resumed.indices, stepwise[6])
  })
})
