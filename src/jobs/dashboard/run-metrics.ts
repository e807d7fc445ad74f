/**
 * The points a job's dashboard plots, read from its durable run's directory: the training
 * loss of each optimizer step and the evaluation loss of each evaluation. A run's own
 * `metrics.jsonl` and `events.jsonl` hold only what a committed checkpoint made part of it
 * (adoption); the steps since then live in the directory of the attempt now training, and
 * may yet be lost (a retry trains them again). The dashboard shows both: a chart that only
 * moved at each commit would look stuck.
 */
import { readdir, stat } from "node:fs/promises"
import { join } from "node:path"
import { attemptDirectory, attemptsDirectory } from "../../durable/segment/attempt-directory.js"
import { type JsonlLine, readJsonlLines, stepOf } from "../../durable/segment/jsonl-lines.js"

/** The training loss at one optimizer step. */
export interface TrainPoint {
  readonly step: number
  readonly loss: number
}

/** The evaluation loss (mean negative log-likelihood per token) at one step. */
export interface EvalPoint {
  readonly step: number
  readonly eval_nll: number
}

/** Every point of a run so far, each list in increasing step order, one point per step. */
export interface RunPoints {
  readonly train: ReadonlyArray<TrainPoint>
  readonly eval: ReadonlyArray<EvalPoint>
}

/** Reads a run's points; see {@link readRunPoints}. */
export type RunPointsReader = (runDir: string) => Promise<RunPoints>

const isMissing = (error: unknown) => (error as NodeJS.ErrnoException | undefined)?.code === "ENOENT"

const finite = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value)

const trainPoint = (line: JsonlLine): TrainPoint | undefined => {
  const step = stepOf(line)
  const loss = line.value["loss"]
  return step !== undefined && finite(loss) ? { step, loss } : undefined
}

const evalPoint = (line: JsonlLine): EvalPoint | undefined => {
  const step = stepOf(line)
  if (step === undefined || line.value["name"] !== "eval") return undefined
  const data = line.value["data"]
  const nll = typeof data === "object" && data !== null ? (data as Record<string, unknown>)["eval_nll"] : undefined
  return finite(nll) ? { step, eval_nll: nll } : undefined
}

/**
 * The points of `lines` in strictly increasing step order, after `after`: a step seen twice
 * (an attempt that trained it again after a retry) keeps its first point.
 */
const increasing = <P extends { readonly step: number }>(points: ReadonlyArray<P | undefined>, after: number): Array<P> => {
  const kept: Array<P> = []
  let last = after
  for (const point of points) {
    if (point === undefined || point.step <= last) continue
    kept.push(point)
    last = point.step
  }
  return kept
}

/**
 * The attempt directory training now: the one whose `metrics.jsonl` changed last. Attempts
 * that lost, or segments long finished, wrote theirs earlier. Undefined when none wrote one.
 */
const liveAttempt = async (runDir: string): Promise<string | undefined> => {
  const ids = await readdir(attemptsDirectory(runDir)).catch((error: unknown) => {
    if (isMissing(error)) return []
    throw error
  })
  let newest: { readonly directory: string; readonly modified: number } | undefined
  for (const id of ids) {
    const directory = attemptDirectory(runDir, id)
    const modified = await stat(join(directory, "metrics.jsonl")).then((stats) => stats.mtimeMs, (error: unknown) => {
      if (isMissing(error)) return undefined
      throw error
    })
    if (modified !== undefined && (newest === undefined || modified > newest.modified)) newest = { directory, modified }
  }
  return newest?.directory
}

type ReadLines = (file: string) => Promise<ReadonlyArray<JsonlLine>>

const readPoints = async (runDir: string, readLines: ReadLines): Promise<RunPoints> => {
  const [committedMetrics, committedEvents, live] = await Promise.all([
    readLines(join(runDir, "metrics.jsonl")),
    readLines(join(runDir, "events.jsonl")),
    liveAttempt(runDir)
  ])
  // Adoption appends whole steps, so the run's last metrics line is the last committed step.
  const committed = committedMetrics.reduce((last, line) => Math.max(last, stepOf(line) ?? last), 0)
  const [liveMetrics, liveEvents] = live === undefined
    ? [[], []]
    : await Promise.all([readLines(join(live, "metrics.jsonl")), readLines(join(live, "events.jsonl"))])
  const train = increasing(committedMetrics.map(trainPoint), -Infinity)
  const evals = increasing(committedEvents.map(evalPoint), -Infinity)
  return {
    train: [...train, ...increasing(liveMetrics.map(trainPoint), Math.max(committed, train.at(-1)?.step ?? -Infinity))],
    eval: [...evals, ...increasing(liveEvents.map(evalPoint), Math.max(committed, evals.at(-1)?.step ?? -Infinity))]
  }
}

/**
 * The training and evaluation points of the durable run in `runDir`: the committed lines of
 * its `metrics.jsonl` and the `eval` events of its `events.jsonl` (those with a numeric
 * `data.eval_nll`), followed by the lines of the attempt training now (see `liveAttempt`)
 * past the last committed step. A line still being written (no newline yet) is left for the
 * next read; missing files and directories read as no lines.
 */
export const readRunPoints: RunPointsReader = (runDir) => readPoints(runDir, readJsonlLines)

/**
 * A {@link readRunPoints} that keeps each file's lines while the file's size and modification
 * time stay the same, for a caller that reads the same run several times a second (the
 * dashboard's stream): an unchanged file costs a `stat` instead of a parse.
 */
export const cachedRunPointsReader = (): RunPointsReader => {
  const cache = new Map<string, { readonly key: string; readonly lines: ReadonlyArray<JsonlLine> }>()
  const readLines: ReadLines = async (file) => {
    const stats = await stat(file).catch((error: unknown) => {
      if (isMissing(error)) return undefined
      throw error
    })
    if (stats === undefined) {
      cache.delete(file)
      return []
    }
    // Keyed by the stat taken before reading: a write in between makes the next key differ.
    const key = `${stats.ino}:${stats.size}:${stats.mtimeMs}`
    const cached = cache.get(file)
    if (cached?.key === key) return cached.lines
    const lines = await readJsonlLines(file)
    cache.set(file, { key, lines })
    return lines
  }
  return (runDir) => readPoints(runDir, readLines)
}
