/**
 * What `sous report` shows, built from the run directories as read: each run's facts
 * (kind, steps, final loss, timing, resumes, checkpoints, recipe), the charts, and where the
 * recipes differ. Pure: the page is rendered from this alone.
 */
import type { CheckpointRow } from "./read-checkpoints.js"
import { isJsonObject, type JsonObject } from "./read-json.js"
import type { RunFiles } from "./read-runs.js"
import { recipeDifferences, type RecipeDifference } from "./recipe-differences.js"
import { type Chart, evalMeasures, reportCharts, trainMeasures } from "./report-charts.js"

/** When a run started, how long it took and how fast it stepped. */
export interface RunTiming {
  /** ISO 8601. */
  readonly startedAt: string | undefined
  readonly seconds: number | undefined
  readonly stepsPerSecond: number | undefined
  /**
   * `summary`: the run's own timing, written at its end. `events`: no summary (the run is
   * still going, or stopped before its end), so from its first to its last event.
   */
  readonly source: "summary" | "events"
}

/** One run of the report. */
export interface ReportRun {
  readonly name: string
  readonly dir: string
  /** The recipe's `kind`: supervised, preference, rl, distill, classify. */
  readonly kind: string
  /** Its colour on every chart. */
  readonly color: string
  /** How many optimizer steps `metrics.jsonl` holds. */
  readonly steps: number
  readonly lastStep: number | undefined
  readonly finalLoss: number | undefined
  readonly finished: boolean
  readonly timing: RunTiming
  /** The steps it was resumed from, in order. */
  readonly resumedAt: ReadonlyArray<number>
  readonly checkpoints: ReadonlyArray<CheckpointRow>
  readonly recipe: JsonObject
}

/** Everything the report page shows. */
export interface ReportModel {
  readonly runs: ReadonlyArray<ReportRun>
  readonly charts: ReadonlyArray<Chart>
  /** Where the runs' recipes differ; none for one run. */
  readonly recipeDifferences: ReadonlyArray<RecipeDifference>
}

/** Distinct on white, and told apart by most colour-blind readers in the first six. */
const palette = ["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#db2777", "#4b5563", "#65a30d"]

const finite = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value)

const timingOf = (run: RunFiles, steps: number): RunTiming => {
  const timing = run.summary?.["timing"]
  if (isJsonObject(timing)) {
    return {
      startedAt: typeof timing["startedAt"] === "string" ? timing["startedAt"] : undefined,
      seconds: finite(timing["seconds"]) ? timing["seconds"] : undefined,
      stepsPerSecond: finite(timing["stepsPerSecond"]) ? timing["stepsPerSecond"] : undefined,
      source: "summary"
    }
  }
  const times = run.events.flatMap((event) => {
    const time = typeof event["time"] === "string" ? Date.parse(event["time"]) : NaN
    return Number.isNaN(time) ? [] : [time]
  })
  if (times.length === 0) return { startedAt: undefined, seconds: undefined, stepsPerSecond: undefined, source: "events" }
  const first = Math.min(...times)
  const seconds = (Math.max(...times) - first) / 1000
  return { startedAt: new Date(first).toISOString(), seconds, stepsPerSecond: seconds > 0 ? steps / seconds : undefined, source: "events" }
}

/** Run names as given, but a name two runs share becomes each one's directory as named. */
const uniqueNames = (runs: ReadonlyArray<RunFiles>): ReadonlyArray<string> => {
  const shared = (name: string) => runs.filter((run) => run.name === name).length > 1
  const names = runs.map((run) => (shared(run.name) ? run.dir : run.name))
  // The same directory named twice: number the repeats.
  return names.map((name, index) => {
    const before = names.slice(0, index).filter((other) => other === name).length
    return before === 0 ? name : `${name} (${before + 1})`
  })
}

/** The report of `runs`, in their order. */
export const reportModel = (runs: ReadonlyArray<RunFiles>): ReportModel => {
  const names = uniqueNames(runs)
  const measures = runs.map((run) => ({ train: trainMeasures(run.metrics), eval: evalMeasures(run.events) }))
  return {
    runs: runs.map((run, index): ReportRun => {
      const steps = [...new Set(run.metrics.flatMap((line) => (finite(line["step"]) ? [line["step"]] : [])))]
      const loss = measures[index]!.train.get("loss")
      const lastStep = steps.length === 0 ? undefined : Math.max(...steps)
      return {
        name: names[index]!,
        dir: run.dir,
        kind: typeof run.recipe["kind"] === "string" ? run.recipe["kind"] : "unknown",
        color: palette[index % palette.length]!,
        steps: steps.length,
        lastStep,
        finalLoss: lastStep === undefined ? undefined : loss?.get(lastStep),
        finished: run.summary !== undefined,
        timing: timingOf(run, steps.length),
        resumedAt: run.events.flatMap((event) => (event["name"] === "resume" && finite(event["step"]) ? [event["step"]] : [])),
        checkpoints: run.checkpoints,
        recipe: run.recipe
      }
    }),
    charts: reportCharts(measures),
    recipeDifferences: recipeDifferences(runs.map((run) => run.recipe))
  }
}
