/**
 * The report's charts: one per training measure (loss, learning rate and gradient norm
 * first) and one per evaluation measure, each with one series per run that has the measure,
 * on the union of their steps.
 */
import { isJsonObject, type JsonObject } from "./read-json.js"

/** A measure's values by step. */
export type Series = ReadonlyMap<number, number>

/** A run's measures by name, each a series by step. */
export type Measures = ReadonlyMap<string, Series>

/** One chart, ready for uPlot: x values, and each run's y values on them (null where it has none). */
export interface Chart {
  /** The element id of the chart's figure. */
  readonly id: string
  readonly title: string
  /** The metric's key in `metrics.jsonl`, or in the `data` of `eval` events. */
  readonly measure: string
  readonly source: "train" | "eval"
  readonly steps: ReadonlyArray<number>
  readonly series: ReadonlyArray<{ readonly run: number; readonly values: ReadonlyArray<number | null> }>
}

const finite = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value)

/** Adds each finite number of `values` (but `step`) to `into`, at `step`; a later value replaces. */
const addPoint = (into: Map<string, Map<number, number>>, step: number, values: JsonObject) => {
  for (const [key, value] of Object.entries(values)) {
    if (key === "step" || !finite(value)) continue
    let series = into.get(key)
    if (series === undefined) into.set(key, series = new Map())
    series.set(step, value)
  }
}

/** The measures of `metrics.jsonl`: every finite number of a line with a numeric `step`. */
export const trainMeasures = (metrics: ReadonlyArray<JsonObject>): Measures => {
  const measures = new Map<string, Map<number, number>>()
  for (const line of metrics) if (finite(line["step"])) addPoint(measures, line["step"], line)
  return measures
}

/** The measures of the `eval` events of `events.jsonl`: every finite number of their `data`. */
export const evalMeasures = (events: ReadonlyArray<JsonObject>): Measures => {
  const measures = new Map<string, Map<number, number>>()
  for (const event of events) {
    const data = event["data"]
    if (event["name"] === "eval" && finite(event["step"]) && isJsonObject(data)) addPoint(measures, event["step"], data)
  }
  return measures
}

// `lr` is the schedule's rate and `learning_rate:mean` the rate the backend reports it used:
// the same numbers, charted once, from whichever a run has.
const learningRate = "lr"
const learningRateAlias = "learning_rate:mean"

const titles: Readonly<Record<string, string>> = {
  loss: "Training loss",
  [learningRate]: "Learning rate",
  "grad_norm:mean": "Gradient norm (before clipping)",
  tokens: "Trained tokens per step",
  seconds: "Seconds per step",
  eval_nll: "Eval loss (NLL per token)",
  eval_bpb: "Eval bits per byte",
  eval_tokens: "Eval tokens"
}

/** The order of the first training charts; other measures follow as first seen. */
const firstTrainMeasures = ["loss", learningRate, "grad_norm:mean"]

const measureNames = (runs: ReadonlyArray<Measures>, first: ReadonlyArray<string>) => {
  const seen = [...new Set(runs.flatMap((measures) => [...measures.keys()]))]
  return [...first.filter((name) => seen.includes(name)), ...seen.filter((name) => !first.includes(name))]
}

const chartOf = (id: string, source: Chart["source"], measure: string, runs: ReadonlyArray<Series | undefined>): Chart => {
  const steps = [...new Set(runs.flatMap((series) => (series === undefined ? [] : [...series.keys()])))].sort((a, b) => a - b)
  return {
    id,
    title: titles[measure] ?? measure,
    measure,
    source,
    steps,
    series: runs.flatMap((series, run) => (series === undefined ? [] : [{ run, values: steps.map((step) => series.get(step) ?? null) }]))
  }
}

/** The charts of runs whose training and evaluation measures are given in run order. */
export const reportCharts = (runs: ReadonlyArray<{ readonly train: Measures; readonly eval: Measures }>): ReadonlyArray<Chart> => {
  // A run without `lr` charts `learning_rate:mean` as its learning rate.
  const train = runs.map(({ train }) => {
    const rate = train.get(learningRate) ?? train.get(learningRateAlias)
    const measures = new Map([...train].filter(([name]) => name !== learningRate && name !== learningRateAlias))
    return rate === undefined ? measures : new Map([[learningRate, rate], ...measures])
  })
  const evals = runs.map((run) => run.eval)
  const charts = [
    ...measureNames(train, firstTrainMeasures).map((measure) => ["train", measure] as const),
    ...measureNames(evals, []).map((measure) => ["eval", measure] as const)
  ]
  return charts.map(([source, measure], index) =>
    chartOf(`chart-${index + 1}`, source, measure, (source === "train" ? train : evals).map((measures) => measures.get(measure))))
}
