import type { ForwardBackwardOutput } from "../ports/index.js"

/**
 * Merging the outputs of a batch sent in chunks. Each metric key names its reduction after
 * the last `:` (`loss:sum`, `accuracy:mean`), which says how chunk values combine; the rules
 * follow the Tinker SDK's `chunked_fwdbwd_helpers.py`, so a merged result reads the same as
 * one the SDK would build.
 */

const weightedMean = (values: ReadonlyArray<number>, weights: ReadonlyArray<number>): number => {
  const total = weights.reduce((sum, weight) => sum + weight, 0)
  // Chunks with no datums carry no weight; when all are empty every value counts once.
  if (total === 0) return values.reduce((sum, value) => sum + value, 0) / values.length
  return values.reduce((sum, value, index) => sum + value * weights[index]!, 0) / total
}

// CPython's 64-bit hash of an int (modulo the Mersenne prime 2^61 - 1, sign kept, -1 → -2).
const hashModulus = (1n << 61n) - 1n
const pythonIntHash = (value: bigint): bigint => {
  const magnitude = (value < 0n ? -value : value) % hashModulus
  const hash = value < 0n ? -magnitude : magnitude
  return hash === -1n ? -2n : hash
}

// CPython's (3.8+) xxHash-based hash of a tuple, over 64-bit unsigned arithmetic.
const prime1 = 11400714785074694791n
const prime2 = 14029467366897019727n
const prime5 = 2870177450012600261n
const mask = (1n << 64n) - 1n
const pythonTupleHash = (items: ReadonlyArray<bigint>): bigint => {
  let acc = prime5
  for (const item of items) {
    acc = (acc + BigInt.asUintN(64, pythonIntHash(item)) * prime2) & mask
    acc = ((acc << 31n) | (acc >> 33n)) & mask
    acc = (acc * prime1) & mask
  }
  acc = (acc + (BigInt(items.length) ^ (prime5 ^ 3527539n))) & mask
  return acc === mask ? 1546275796n : BigInt.asIntN(64, acc)
}

/**
 * Order-insensitive combination of hash values: Python's `hash(tuple(sorted(int(x) for x in xs)))`,
 * the SDK's rule, so the same chunk hashes give the same merged value in either language.
 */
const hashUnordered = (values: ReadonlyArray<number>): number => {
  const integers = values.map((value) => BigInt(Math.trunc(value))).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  return Number(pythonTupleHash(integers))
}

/** Every reduction a metric key may name. */
export const metricReductions = ["sum", "mean", "min", "max", "slack", "unique", "hash_unordered"] as const
export type MetricReduction = (typeof metricReductions)[number]

const isReduction = (suffix: string): suffix is MetricReduction => (metricReductions as ReadonlyArray<string>).includes(suffix)

/**
 * Merges the metrics of chunk results. `mean` and `slack` (max minus mean) weight each chunk
 * by its datum count. `unique` keeps the first chunk's value under the key and the others
 * under `key_1`, `key_2`, ... (the SDK's naming). Keys come from the first chunk; a key with
 * an unknown reduction, or missing from some chunk, is dropped.
 */
export const mergeMetrics = (
  chunks: ReadonlyArray<{ readonly metrics: Readonly<Record<string, number>>; readonly datums: number }>
): Record<string, number> => {
  const merged = new Map<string, number>()
  const first = chunks[0]
  if (first === undefined) return {}
  const weights = chunks.map((chunk) => chunk.datums)
  for (const key of Object.keys(first.metrics)) {
    const colon = key.lastIndexOf(":")
    const reduction = colon < 0 ? "" : key.slice(colon + 1)
    if (!isReduction(reduction)) continue
    if (!chunks.every((chunk) => Object.hasOwn(chunk.metrics, key))) continue
    const values = chunks.map((chunk) => chunk.metrics[key]!)
    switch (reduction) {
      case "sum":
        merged.set(key, values.reduce((sum, value) => sum + value, 0))
        break
      case "mean":
        merged.set(key, weightedMean(values, weights))
        break
      case "min":
        merged.set(key, Math.min(...values))
        break
      case "max":
        merged.set(key, Math.max(...values))
        break
      case "slack":
        merged.set(key, Math.max(...values) - weightedMean(values, weights))
        break
      case "unique":
        values.forEach((value, index) => merged.set(index === 0 ? key : `${key}_${index}`, value))
        break
      case "hash_unordered":
        merged.set(key, hashUnordered(values))
        break
    }
  }
  return Object.fromEntries(merged)
}

/**
 * Merges the results of one batch sent in chunks, in chunk order: the per-datum outputs are
 * concatenated and the metrics merged by {@link mergeMetrics}, each chunk weighted by its
 * number of datums. The output type is the first chunk's; no chunks give an empty output.
 */
export const mergeForwardBackwardOutputs = (outputs: ReadonlyArray<ForwardBackwardOutput>): ForwardBackwardOutput => ({
  loss_fn_output_type: outputs[0]?.loss_fn_output_type ?? "",
  loss_fn_outputs: outputs.flatMap((output) => output.loss_fn_outputs),
  metrics: mergeMetrics(outputs.map((output) => ({ metrics: output.metrics, datums: output.loss_fn_outputs.length })))
})
