/**
 * A job's events, as OpenAI's `fine_tuning.job.event` objects, newest first: the run's own
 * log (submitted, segments, retries, pause, the end), and from its committed files one
 * `metrics` event per optimizer step, one per evaluation and one per checkpoint. Only what is
 * committed shows (an attempt that may yet lose shows nothing), so an event, once listed,
 * keeps its id and place, and `after` paging is stable while the job runs.
 */
import { join } from "node:path"
import type { RunEventRow } from "../durable/run-store.js"
import { type JsonlLine, readJsonlLines, stepOf } from "../durable/segment/jsonl-lines.js"

/** One event. */
export interface JobEvent {
  readonly object: "fine_tuning.job.event"
  readonly id: string
  readonly created_at: number
  readonly level: "info" | "warn" | "error"
  readonly message: string
  readonly type: "message" | "metrics"
  readonly data: Readonly<Record<string, unknown>>
}

const levelOf = (message: string): JobEvent["level"] =>
  /\bfailed\b|\berror\b/i.test(message) ? "error" : /\bretry|retrying|cancel/i.test(message) ? "warn" : "info"

const timeOf = (line: JsonlLine): number | undefined => {
  const time = line.value["time"]
  return typeof time === "string" ? Date.parse(time) : undefined
}

const numberAt = (record: Readonly<Record<string, unknown>>, key: string): number | undefined =>
  typeof record[key] === "number" ? record[key] : undefined

/** A run-log line as a tenant sees it: the submission names server paths, which are not theirs to know. */
const tenantView = (message: string): string => (message.startsWith("submitted ") ? "job submitted" : message)

const format = (value: number): string => Number(value.toPrecision(5)).toString()

/**
 * Every event of the job whose run is `runId` in `runDir`, with `log` its run log, newest
 * first. `totalSteps` goes into the step messages when known.
 */
export const jobEvents = async (
  runId: string,
  runDir: string,
  log: ReadonlyArray<RunEventRow>,
  totalSteps: number | null
): Promise<Array<JobEvent>> => {
  const [metrics, events] = await Promise.all([readJsonlLines(join(runDir, "metrics.jsonl")), readJsonlLines(join(runDir, "events.jsonl"))])
  // Metric lines carry no time: a step's is that of the first event at or after it (its own
  // eval or checkpoint, or a later one), which committed files never change.
  const times = events.flatMap((line) => {
    const step = stepOf(line)
    const time = timeOf(line)
    return step === undefined || time === undefined ? [] : [{ step, time }]
  })
  const stepTime = (step: number) => (times.find((entry) => entry.step >= step) ?? times.at(-1))?.time ?? Date.now()
  const all: Array<{ readonly at: number; readonly event: JobEvent }> = []
  const add = (at: number, id: string, type: JobEvent["type"], message: string, data: Readonly<Record<string, unknown>> = {}) =>
    all.push({
      at,
      event: { object: "fine_tuning.job.event", id: `ftevent-${runId}-${id}`, created_at: Math.floor(at / 1000), level: levelOf(message), message, type, data }
    })
  log.forEach((row, index) => add(row.at, `log${index}`, "message", tenantView(row.message)))
  const of = totalSteps === null ? "" : `/${totalSteps}`
  for (const line of metrics) {
    const step = stepOf(line)
    const loss = numberAt(line.value, "loss")
    if (step === undefined || loss === undefined) continue
    const data = { step, train_loss: loss, total_steps: totalSteps, learning_rate: numberAt(line.value, "lr") ?? null }
    add(stepTime(step), `step${step}`, "metrics", `Step ${step}${of}: training loss=${format(loss)}`, data)
  }
  // Several evaluations may run at one step (NLL and accuracy, say): each its own event.
  const evalsAt = new Map<number, number>()
  for (const line of events) {
    const step = stepOf(line) ?? 0
    const data = (line.value["data"] ?? {}) as Readonly<Record<string, unknown>>
    const at = timeOf(line) ?? stepTime(step)
    if (line.value["name"] === "eval") {
      const nth = evalsAt.get(step) ?? 0
      evalsAt.set(step, nth + 1)
      const loss = numberAt(data, "eval_nll")
      const text = loss === undefined ? Object.entries(data).map(([key, value]) => `${key}=${String(value)}`).join(", ") : `validation loss=${format(loss)}`
      add(at, nth === 0 ? `eval${step}` : `eval${step}-${nth}`, "metrics", `Step ${step}${of}: ${text}`, { step, ...(loss === undefined ? {} : { valid_loss: loss }), ...data })
    } else if (line.value["name"] === "checkpoint" && typeof data["name"] === "string") {
      add(at, `checkpoint-${data["name"]}`, "message", `Checkpoint ${data["name"]} saved at step ${step}`, { step })
    }
  }
  // Newest first; of one millisecond, the one recorded later first.
  return all.map((entry, order) => ({ ...entry, order })).sort((a, b) => b.at - a.at || b.order - a.order).map((entry) => entry.event)
}

/** A page of a newest-first list of objects with ids: up to `limit` after the one `after`. */
export const pageAfter = <A extends { readonly id: string }>(
  items: ReadonlyArray<A>,
  options: { readonly limit: number; readonly after?: string | undefined }
): { readonly data: ReadonlyArray<A>; readonly hasMore: boolean } => {
  const start = options.after === undefined ? 0 : items.findIndex((item) => item.id === options.after) + 1
  const data = items.slice(start, start + options.limit)
  return { data, hasMore: start + options.limit < items.length }
}
