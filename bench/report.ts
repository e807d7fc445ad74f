/** Small helpers the benchmarks share: running them, summarizing and printing what they measured. */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, References, type Scope } from "effect"

/** The middle value of `values` (the mean of the two middle ones for an even count). */
export const median = (values: ReadonlyArray<number>): number => {
  if (values.length === 0) throw new RangeError("median of no values")
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** Rows of cells as text with aligned columns: the first column left-aligned, numbers right-aligned. */
export const formatTable = (rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths: Array<number> = []
  for (const row of rows) row.forEach((cell, column) => { widths[column] = Math.max(widths[column] ?? 0, cell.length) })
  return rows
    .map((row) => row.map((cell, column) => column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!)).join("  "))
    .join("\n")
}

/** A command-line count: `text` as an integer of at least `minimum`, or an error naming `--name`. */
export const countOption = (name: string, text: string, minimum: number): number => {
  const value = Number(text)
  if (!Number.isInteger(value) || value < minimum) throw new Error(`--${name} must be an integer >= ${minimum}, got ${text}`)
  return value
}

/**
 * Runs a bench with a temporary directory (removed afterwards) and only warnings from the
 * log: a bench prints its own report.
 */
export const runBench = <E>(prefix: string, bench: (dir: string) => Effect.Effect<void, E, Scope.Scope>): Promise<void> =>
  Effect.runPromise(
    Effect.acquireRelease(
      Effect.promise(() => mkdtemp(join(tmpdir(), prefix))),
      (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
    ).pipe(
      Effect.flatMap(bench),
      Effect.scoped,
      Effect.provideService(References.MinimumLogLevel, "Warn")
    )
  )
