/** Small helpers the benchmarks share to summarize and print what they measured. */

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
