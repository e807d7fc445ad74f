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

/** Every measure an eval reported (each kind reports its own), without the `eval_` prefix. */
const evalFields = (data: Readonly<Record<string, unknown>>): string =>
  Object.entries(data)
    .filter(([key, value]) => key.startsWith("eval_") && !counts.has(key) && typeof value === "number")
    .map(([key, value]) => `${key.slice("eval_".length)} ${number(value as number)}`)
    .join(", ") || "-"

/**
 * A metrics sink that shows progress: a bar on a terminal, plain periodic lines otherwise
 * (CI logs and files stay readable). It starts when the run announces its schedule.
 */
export const makeProgressSink = (options: ProgressOptions): MetricsSink["Service"] => {
  const tty = options.stream.isTTY === true
  let total = 0
  let startedAt = 0
  let bar: cliProgress.SingleBar | undefined
  const line = (text: string) => options.stream.write(`${text}\n`)

  const onEvent = (event: RunEvent) => {
    if (event.name === "schedule") {
      total = Number(event.data?.["totalSteps"] ?? 0)
      startedAt = performance.now()
      if (tty) {
        bar = new cliProgress.SingleBar(
          { stream: options.stream, format: "train [{bar}] {value}/{total} | loss {loss} | lr {lr} | {rate} steps/s | eta {eta_formatted}", hideCursor: true },
          cliProgress.Presets.shades_classic
        )
        bar.start(total, 0, { loss: "-", lr: "-", rate: "-" })
      } else {
        line(`training for ${total} steps`)
      }
    } else if (event.name === "eval") {
      // A line would break a terminal bar; there the eval shows in events.jsonl and the summary.
      if (bar === undefined) line(`eval at step ${event.step}: ${evalFields(event.data ?? {})}`)
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

  return MetricsSink.of({
    record: (step, metrics) => Effect.sync(() => onRecord(step, metrics)),
    event: (event) => Effect.sync(() => onEvent(event)),
    summarize: () =>
      Effect.sync(() => {
        bar?.stop()
        bar = undefined
      }),
    flush: Effect.void
  })
}
