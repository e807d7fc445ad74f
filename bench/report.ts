/** Small helpers the benchmarks share: running them, summarizing and printing what they measured. */
import { spawn } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
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

/** A child process that a bench drives one round at a time, so that several children's rounds can interleave. */
export interface LockstepChild<Header, Round> {
  /** What the child printed once it was ready (after its warmup). */
  readonly header: Header
  /** Asks the child for one round and waits for its result. */
  readonly round: () => Promise<Round>
  /** Closes the child's stdin, its signal to finish, and waits for it to exit. */
  readonly close: () => Promise<void>
}

/**
 * Starts `command args` and waits for its header. The protocol: the child prints a JSON
 * header line when it is ready, then for each line it reads on stdin runs one round and
 * prints it as a JSON line, and exits at the end of stdin. Other stdout lines (a library's
 * notices) are skipped; stderr passes through. `env` is added to this process's
 * environment. Rejects, naming `label`, when the child exits early or fails.
 */
export const startLockstepChild = async <Header, Round>(
  label: string,
  command: string,
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string>> = {}
): Promise<LockstepChild<Header, Round>> => {
  const child = spawn(command, args, { stdio: ["pipe", "pipe", "inherit"], env: { ...process.env, ...env } })
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on("error", reject)
    child.on("close", resolve)
  })
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  const nextJson = async <A>(): Promise<A> => {
    for (let next = await lines.next(); !next.done; next = await lines.next()) {
      if (next.value.startsWith("{")) return JSON.parse(next.value) as A
    }
    throw new Error(`${label} exited with ${await exited} before printing its result`)
  }
  const header = await nextJson<Header>()
  return {
    header,
    round: () => {
      child.stdin.write("round\n")
      return nextJson<Round>()
    },
    close: async () => {
      child.stdin.end()
      const code = await exited
      if (code !== 0) throw new Error(`${label} exited with ${code}`)
    }
  }
}

/** The median over paired rounds of `numerator[i] / denominator[i]` (rounds of children run in the same stretch of time). */
export const pairedRatio = <R>(
  numerator: ReadonlyArray<R>,
  denominator: ReadonlyArray<R>,
  pick: (round: R) => number
): number => median(numerator.map((round, index) => pick(round) / pick(denominator[index]!)))
