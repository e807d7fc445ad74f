import { expect } from "vitest"
import { readEvents, readMetrics, readSummary } from "../support/run-directory.js"

type Metrics = Readonly<Record<string, number>>

// Wall-clock seconds differ run to run, and a remote backend adds its request timings
// (`remote_*`), which a local run does not have.
const timed = (key: string) => key === "seconds" || key.startsWith("remote_")

/** What two runs of one recipe must agree on: each step's metrics, each evaluation, the summary's evaluations. */
const results = (runDir: string): Record<"steps" | "evals" | "summary", ReadonlyArray<Metrics>> => {
  const summary = readSummary(runDir)
  return {
    steps: readMetrics(runDir),
    evals: readEvents(runDir, "eval").map((event) => ({ step: event.step, ...(event.data as Metrics) })),
    summary: (["firstEval", "lastEval", "bestEval"] as const).flatMap((key) =>
      summary[key] === undefined ? [] : [{ step: summary[key].step, ...summary[key].metrics }]
    )
  }
}

/**
 * Expects the run in `actualDir` to have logged what the run in `expectedDir` logged: the
 * same lines, each with every key of the expected line (timings aside) within `tolerance`.
 */
export const compareRuns = (expectedDir: string, actualDir: string, tolerance: number) => {
  const expected = results(expectedDir)
  const actual = results(actualDir)
  for (const part of ["steps", "evals", "summary"] as const) {
    const lines = expected[part]
    expect(actual[part].length, `${actualDir}: ${part}`).toBe(lines.length)
    expect(lines.length, `${expectedDir}: ${part}`).toBeGreaterThan(0)
    lines.forEach((line, index) => {
      const other = actual[part][index]!
      for (const [key, value] of Object.entries(line)) {
        if (timed(key)) continue
        const where = `${actualDir}: ${part}[${index}].${key}`
        expect(other[key], where).toBeTypeOf("number")
        expect(Math.abs(other[key]! - value), `${where}: ${other[key]} against ${value}`).toBeLessThanOrEqual(tolerance)
      }
    })
  }
}
