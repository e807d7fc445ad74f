import cliProgress from "cli-progress"
import { Effect } from "effect"
import { MetricsSink, type Metrics, type RunEvent } from "../ports/index.js"

/** Where progress goes and how often a plain line is printed when it is not a terminal. */
export interface ProgressOptions {
  readonly stream: NodeJS.WriteStream
  readonly every: number
}

const number = (value: number | undefined, digits = 4) => (value === undefined ? "-" : Number(value.toPrecision(digits)).toString())

// Counts say how much was measured, not how well; they stay in events.jsonl.
const counts = new Set(["eval_tokens", "eval_examples", "eval_pairs", "eval_prompts", "eval_samples", "eval_episodes"])

/** The measures of an eval (each kind reports its own), counts left out. */
const measures = (data: Readonly<Record<string, unknown>>): ReadonlyArray<readonly [string, number]> =>
  Object.entries(data).flatMap(([key, value]) =>
    key.startsWith("eval_") && !counts.has(key) && typeof value === "number" ? [[key, value] as const] : []
  )

/** A measure's name as printed: without the `eval_` prefix. */
const shortName = (key: string) => key.slice("eval_".length)

/** Every measure an eval reported, e.g. `nll 1.297, bpb 2.617`. */
const evalFields = (data: Readonly<Record<string, unknown>>): string =>
  measures(data).map(([key, value]) => `${shortName(key)} ${number(value)}`).join(", ") || "-"

// The measure each kind's eval picks its best eval by (the `better` its eval stage gives
// `withEval`): classify, preference, rl, distill, supervised. Classify reports nll as well,
// so accuracy comes before nll.
const keyMeasures = ["eval_accuracy", "eval_preference_accuracy", "eval_reward", "eval_reverse_kl", "eval_nll"]

/** The measure that says how well a run did: its kind's, or the first an unknown eval reported. */
const keyMeasure = (data: Readonly<Record<string, unknown>>): string | undefined =>
  keyMeasures.find((key) => typeof data[key] === "number") ?? measures(data)[0]?.[0]

// The training numbers the end of a run shows: the loss, and an rl batch's reward.
const finalFields = ["loss", "reward"]

interface Evaluation {
  readonly step: number
  readonly metrics: Readonly<Record<string, unknown>>
}

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> => typeof value === "object" && value !== null

const evaluationOf = (value: unknown): Evaluation | undefined =>
  isRecord(value) && typeof value["step"] === "number" && isRecord(value["metrics"])
    ? { step: value["step"], metrics: value["metrics"] }
    : undefined

/**
 * What a run's summary (summary.json, or what a metrics sink's `summarize` gets) says about
 * its end: its steps, final training numbers, last and best eval. Fields it lacks, or holds
 * in another shape, are left out: a summary is read, never trusted to be complete.
 */
const outcomeOf = (summary: unknown) => {
  const record = isRecord(summary) ? summary : {}
  const final = isRecord(record["final"]) ? record["final"] : {}
  return {
    steps: typeof record["steps"] === "number" ? record["steps"] : undefined,
    final: finalFields.flatMap((key) => (typeof final[key] === "number" ? [`${key} ${number(final[key])}`] : [])).join(", "),
    last: evaluationOf(record["lastEval"]),
    best: evaluationOf(record["bestEval"])
  }
}

/**
 * The numbers that say how a run ended, for its `done:` line: the key measure of its last
 * eval and its best eval with the step (`eval nll 1.297 (best 1.297 at step 300)`), or the
 * final training loss of a run without evals; undefined when the summary holds neither.
 */
export const keyNumbers = (summary: unknown): string | undefined => {
  const { best, final, last } = outcomeOf(summary)
  const key = last === undefined ? undefined : keyMeasure(last.metrics)
  if (last === undefined || key === undefined) return final === "" ? undefined : `final ${final}`
  const bestValue = best?.metrics[key]
  const bestText = best === undefined || typeof bestValue !== "number" ? "" : ` (best ${number(bestValue)} at step ${best.step})`
  return `eval ${shortName(key)} ${number(last.metrics[key] as number)}${bestText}`
}

/** The lines that end a run's progress: its final step's numbers, its last and its best eval. */
const endLines = (summary: unknown): ReadonlyArray<string> => {
  const { best, final, last, steps } = outcomeOf(summary)
  return [
    ...(steps === undefined ? [] : [`final step ${steps}: ${final === "" ? "-" : final}`]),
    ...(last === undefined ? [] : [`last eval, step ${last.step}: ${evalFields(last.metrics)}`]),
    ...(best === undefined ? [] : [`best eval, step ${best.step}: ${evalFields(best.metrics)}`])
  ]
}

type SinkService = MetricsSink["Service"]

/** A progress sink; `close` stops its bar (restoring the cursor) when a run ends without a summary. */
export interface ProgressSink extends SinkService {
  readonly close: () => void
}

/**
 * A metrics sink that shows progress: a bar on a terminal, plain periodic lines otherwise
 * (CI logs and files stay readable). It starts when the run announces its schedule. Each
 * eval is a line of its own in both, above the bar on a terminal, and the run's final step,
 * last and best eval end it.
 */
export const makeProgressSink = (options: ProgressOptions): ProgressSink => {
  const tty = options.stream.isTTY === true
  let total = 0
  let startedAt = 0
  // A MultiBar, though there is one bar: only it can print lines above the bar (`log`),
  // which it writes on its next redraw; a SingleBar restores the cursor it saved at start
  // when it stops, and would draw over them.
  let bars: cliProgress.MultiBar | undefined
  let bar: cliProgress.SingleBar | undefined
  const line = (text: string) => options.stream.write(`${text}\n`)

  const stopBar = () => {
    if (bars === undefined) return
    // stop() draws the bars without the lines logged since the last redraw: write them first.
    bars.update()
    bars.stop()
    bars = undefined
    bar = undefined
  }

  const onEvent = (event: RunEvent) => {
    if (event.name === "schedule") {
      total = Number(event.data?.["totalSteps"] ?? 0)
      startedAt = performance.now()
      if (tty) {
        bars = new cliProgress.MultiBar(
          {
            stream: options.stream,
            format: "train [{bar}] {value}/{total} | loss {loss} | lr {lr} | {rate} steps/s | eta {eta_formatted}",
            hideCursor: true,
            // Drawn only when changed, the bar would stay above an eval line logged after it.
            forceRedraw: true
          },
          cliProgress.Presets.shades_classic
        )
        bar = bars.create(total, 0, { loss: "-", lr: "-", rate: "-" })
      } else {
        line(`training for ${total} steps`)
      }
    } else if (event.name === "eval") {
      const text = `eval at step ${event.step}: ${evalFields(event.data ?? {})}`
      if (bars !== undefined) bars.log(`${text}\n`)
      else line(text)
    }
  }

  const onRecord = (step: number, metrics: Metrics) => {
    const rate = step / Math.max((performance.now() - startedAt) / 1000, 1e-9)
    const fields = { loss: number(metrics["loss"]), lr: number(metrics["lr"], 3), rate: number(rate, 3) }
    if (bar !== undefined) bar.update(step, fields)
    else if (step % options.every === 0 || step === total) {
      line(`step ${step}/${total} | loss ${fields.loss} | lr ${fields.lr} | ${fields.rate} steps/s`)
    }
  }

  return {
    ...MetricsSink.of({
      record: (step, metrics) => Effect.sync(() => onRecord(step, metrics)),
      event: (event) => Effect.sync(() => onEvent(event)),
      summarize: (summary) =>
        Effect.sync(() => {
          stopBar()
          for (const text of endLines(summary)) line(text)
        }),
      flush: Effect.void
    }),
    close: stopBar
  }
}
