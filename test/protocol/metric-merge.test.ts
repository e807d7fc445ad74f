import { assert, describe, it } from "@effect/vitest"
import { mergeForwardBackwardOutputs, mergeMetrics } from "../../src/protocol/metric-merge.js"
import type { ForwardBackwardOutput } from "../../src/ports/index.js"

/** A chunk result of `datums` datums (each with a one-value logprobs output tagged by its index). */
const chunk = (datums: number, metrics: Record<string, number>, first = 0): ForwardBackwardOutput => ({
  loss_fn_output_type: "cross_entropy",
  loss_fn_outputs: Array.from({ length: datums }, (_, index) => ({ logprobs: { data: [-(first + index)], dtype: "float32" } })),
  metrics
})

describe("mergeForwardBackwardOutputs", () => {
  it("concatenates the per-datum outputs in chunk order", () => {
    const merged = mergeForwardBackwardOutputs([chunk(2, {}, 0), chunk(1, {}, 2), chunk(3, {}, 3)])
    assert.strictEqual(merged.loss_fn_output_type, "cross_entropy")
    assert.deepStrictEqual(merged.loss_fn_outputs.map((output) => output["logprobs"]!.data[0]), [-0, -1, -2, -3, -4, -5])
  })

  it("sums :sum metrics", () => {
    const merged = mergeForwardBackwardOutputs([chunk(1, { "loss:sum": 1.5 }), chunk(3, { "loss:sum": 2.25 }), chunk(2, { "loss:sum": -0.75 })])
    assert.deepStrictEqual(merged.metrics, { "loss:sum": 3 })
  })

  it("weights :mean metrics by each chunk's datum count", () => {
    // (1 * 1 + 3 * 2) / 4 = 1.75, not the unweighted 1.5
    const merged = mergeForwardBackwardOutputs([chunk(1, { "acc:mean": 1 }), chunk(3, { "acc:mean": 2 })])
    assert.deepStrictEqual(merged.metrics, { "acc:mean": 1.75 })
    // with no datums anywhere, each chunk counts once
    assert.deepStrictEqual(mergeForwardBackwardOutputs([chunk(0, { "acc:mean": 1 }), chunk(0, { "acc:mean": 2 })]).metrics, { "acc:mean": 1.5 })
  })

  it("takes :min and :max, and :slack as the max minus the weighted mean", () => {
    const merged = mergeForwardBackwardOutputs([
      chunk(1, { "grad:min": 0.5, "grad:max": 0.5, "time:slack": 4 }),
      chunk(3, { "grad:min": -2, "grad:max": 7, "time:slack": 8 })
    ])
    // slack: max 8 - (1 * 4 + 3 * 8) / 4 = 8 - 7 = 1
    assert.deepStrictEqual(merged.metrics, { "grad:min": -2, "grad:max": 7, "time:slack": 1 })
  })

  it("keeps every :unique value, the first under the key and the rest numbered as the SDK does", () => {
    const merged = mergeForwardBackwardOutputs([
      chunk(1, { "clock_cycle:unique": 10 }),
      chunk(1, { "clock_cycle:unique": 11 }),
      chunk(1, { "clock_cycle:unique": 12 })
    ])
    assert.deepStrictEqual(merged.metrics, {
      "clock_cycle:unique": 10,
      "clock_cycle:unique_1": 11,
      "clock_cycle:unique_2": 12
    })
  })

  it("combines :hash_unordered values independent of order, as Python's hash(tuple(sorted(...)))", () => {
    // Expected values computed with CPython 3.11: float(hash(tuple(sorted(int(x) for x in xs)))).
    const hashOf = (values: ReadonlyArray<number>) =>
      mergeForwardBackwardOutputs(values.map((value) => chunk(1, { "data:hash_unordered": value }))).metrics["data:hash_unordered"]
    assert.strictEqual(hashOf([3, 1, 2]), 529344067295497451)
    assert.strictEqual(hashOf([1, 2, 3]), 529344067295497451)
    assert.strictEqual(hashOf([2 ** 40, -5, 7.9]), -6965505054241826831)
    assert.strictEqual(hashOf([-1]), 8078679518589016365)
    assert.strictEqual(hashOf([123456789, 987654321]), 7222972920610024825)
  })

  it("drops keys with an unknown or no reduction, and keys some chunk lacks", () => {
    const merged = mergeForwardBackwardOutputs([
      chunk(2, { "loss:sum": 1, "loss:median": 3, "bare": 4, "extra:sum": 5, "a:b:max": 1 }),
      chunk(2, { "loss:sum": 2, "loss:median": 6, "bare": 8, "a:b:max": 9 }),
      chunk(2, { "loss:sum": 4, "loss:median": 1, "bare": 2, "late:sum": 1, "a:b:max": 2 })
    ])
    assert.deepStrictEqual(merged.metrics, { "loss:sum": 7, "a:b:max": 9 })
  })

  it("gives an empty output for no chunks and the chunk itself for one", () => {
    assert.deepStrictEqual(mergeForwardBackwardOutputs([]), { loss_fn_output_type: "", loss_fn_outputs: [], metrics: {} })
    const one = chunk(2, { "loss:sum": 1.5, "acc:mean": 0.25, "x:unique": 3 })
    assert.deepStrictEqual(mergeForwardBackwardOutputs([one]), one)
    assert.deepStrictEqual(mergeMetrics([]), {})
  })
})
