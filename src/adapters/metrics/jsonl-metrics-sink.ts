import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Clock, Effect, Layer, Semaphore, type Scope } from "effect"
import { messageOf } from "../../ports/thrown-message.js"
import { MetricsError, MetricsSink } from "../../ports/index.js"
import { replaceFile } from "../fs/durable-files.js"

const attempt = <A>(what: string, run: () => Promise<A>): Effect.Effect<A, MetricsError> =>
  Effect.tryPromise({ try: run, catch: (error) => new MetricsError({ message: `${what}: ${messageOf(error)}`, cause: error }) })

// One JSON line per call; JSON.stringify throws on BigInt and cycles in event data.
const toLine = (value: unknown): Effect.Effect<string, MetricsError> =>
  Effect.try({
    try: () => JSON.stringify(value) + "\n",
    catch: (error) => new MetricsError({ message: `cannot write a metrics line as JSON: ${messageOf(error)}`, cause: error })
  })

interface AppendFile {
  readonly append: (line: string) => Effect.Effect<void, MetricsError>
  readonly sync: Effect.Effect<void, MetricsError>
}

// Opens `file` for appending for the life of the scope; closing syncs it first so that a
// finished run's metrics are on disk even if no one called `flush`.
const openAppendFile = Effect.fnUntraced(function*(file: string): Effect.fn.Return<AppendFile, MetricsError, Scope.Scope> {
  const handle = yield* Effect.acquireRelease(
    attempt(`cannot open ${file}`, () => fs.open(file, "a")),
    (handle) =>
      attempt(`cannot close ${file}`, async () => {
        try {
          await handle.sync()
        } finally {
          await handle.close()
        }
      }).pipe(Effect.catch((error) => Effect.logWarning(error.message)))
  )
  // Concurrent appends must not interleave within a line.
  const lock = yield* Semaphore.make(1)
  return {
    append: (line) => attempt(`cannot append to ${file}`, () => handle.appendFile(line)).pipe(lock.withPermits(1)),
    sync: attempt(`cannot sync ${file}`, () => handle.sync())
  }
})

/** Settings of the JSONL sink. */
export interface JsonlMetricsSinkOptions {
  /**
   * A resumed run continues after the checkpoint `checkpoint` of step `step`: what the dead
   * run wrote after that point (to be written again) is dropped from both files, and so is
   * a last line cut short, so that every step and event appears once. Step -1 drops all.
   */
  readonly resumeAfter?: { readonly step: number; readonly checkpoint?: string }
}

interface ParsedLine {
  readonly text: string
  readonly step: number
  readonly name?: unknown
  readonly data?: { readonly name?: unknown }
}

/** The complete JSON lines of a file (a last line cut short by a crash is not one). */
const readLines = async (file: string): Promise<Array<ParsedLine>> => {
  const text = await fs.readFile(file, "utf8").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return ""
    throw error
  })
  // The last element is "" after a final newline, or a line cut short.
  return text.split("\n").slice(0, -1).flatMap((line) => {
    try {
      const parsed = JSON.parse(line) as Omit<ParsedLine, "text">
      return typeof parsed.step === "number" ? [{ ...parsed, text: line }] : []
    } catch {
      return []
    }
  })
}

/** Rewrites a JSONL file with the first `count` of its parsed lines. */
const keepLines = (file: string, lines: ReadonlyArray<ParsedLine>) =>
  replaceFile(file, lines.map((line) => `${line.text}\n`).join(""))

/**
 * Cuts both files back to where a resumed run takes over. Metrics lines go by step. Events
 * go by position: the next iteration's first stages log the checkpoint's step too, so the
 * cut is right after the checkpoint's own `checkpoint` event when the dead run wrote it.
 */
const truncateForResume = (directory: string, step: number, checkpoint: string | undefined) =>
  attempt(`cannot truncate the metrics files in ${directory} for resume`, async () => {
    const metricsFile = path.join(directory, "metrics.jsonl")
    await keepLines(metricsFile, (await readLines(metricsFile)).filter((line) => line.step <= step))
    const eventsFile = path.join(directory, "events.jsonl")
    const events = await readLines(eventsFile)
    const marker = events.findIndex((line) =>
      line.name === "checkpoint" && line.step === step && line.data?.name === checkpoint
    )
    await keepLines(eventsFile, marker >= 0 ? events.slice(0, marker + 1) : events.filter((line) => line.step <= step))
  })

/**
 * A {@link MetricsSink} that appends to `<runDir>/metrics.jsonl` and `<runDir>/events.jsonl`
 * (`runDir` is created if missing; existing files are kept, so a resumed run continues them,
 * after `resumeAfter` drops what came after its checkpoint).
 * A record is one line `{"step":…,…metrics}`; `step` always comes first and is the runner's
 * step even if the metrics hold a key of that name. An event is one line
 * `{"time":ISO,"name":…,"step":…,"data"?:…}`. Non-finite numbers become `null`, as in JSON.
 * `summarize` replaces `<runDir>/summary.json` (indented JSON) atomically.
 * `flush` fsyncs both JSONL files; they are synced and closed when the scope closes.
 */
export const makeJsonlMetricsSink = Effect.fn("JsonlMetricsSink.make")(function*(
  runDir: string,
  options: JsonlMetricsSinkOptions = {}
) {
  const directory = path.resolve(runDir)
  yield* attempt(`cannot create ${directory}`, () => fs.mkdir(directory, { recursive: true }))
  if (options.resumeAfter !== undefined) {
    yield* truncateForResume(directory, options.resumeAfter.step, options.resumeAfter.checkpoint)
  }
  const metricsFile = yield* openAppendFile(path.join(directory, "metrics.jsonl"))
  const eventsFile = yield* openAppendFile(path.join(directory, "events.jsonl"))
  const summaryFile = path.join(directory, "summary.json")

  return MetricsSink.of({
    record: Effect.fn("JsonlMetricsSink.record")(function*(step, metrics) {
      // Assigning `step` twice keeps it the first key and the value that wins.
      yield* metricsFile.append(yield* toLine(Object.assign({ step }, metrics, { step })))
    }),
    event: Effect.fn("JsonlMetricsSink.event")(function*(event) {
      const time = new Date(yield* Clock.currentTimeMillis).toISOString()
      const line = { time, name: event.name, step: event.step, ...(event.data === undefined ? {} : { data: event.data }) }
      yield* eventsFile.append(yield* toLine(line))
    }),
    summarize: Effect.fn("JsonlMetricsSink.summarize")(function*(summary) {
      const text = yield* Effect.try({
        try: () => JSON.stringify(summary, null, 2) + "\n",
        catch: (error) => new MetricsError({ message: `cannot write the run summary as JSON: ${messageOf(error)}`, cause: error })
      })
      yield* attempt(`cannot write ${summaryFile}`, () => replaceFile(summaryFile, text))
    }),
    flush: Effect.all([metricsFile.sync, eventsFile.sync], { discard: true }).pipe(Effect.withSpan("JsonlMetricsSink.flush"))
  })
})

/** A layer with a JSONL {@link MetricsSink} writing into `runDir`; see {@link makeJsonlMetricsSink}. */
export const jsonlMetricsSinkLayer = (
  runDir: string,
  options: JsonlMetricsSinkOptions = {}
): Layer.Layer<MetricsSink, MetricsError> => Layer.effect(MetricsSink, makeJsonlMetricsSink(runDir, options))
