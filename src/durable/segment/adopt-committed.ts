/**
 * Adoption: making an attempt's metrics and events part of the run. An attempt writes into
 * its own directory; its lines join the run's `metrics.jsonl` and `events.jsonl` only once
 * a checkpoint it wrote is committed, and only up to that checkpoint. A loser never wrote a
 * committed checkpoint, so nothing of it is ever adopted.
 */
import { existsSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect } from "effect"
import { replaceFile } from "../../adapters/fs/durable-files.js"
import { checkpointStoreLayer } from "../../kitchen/sources.js"
import { messageOf } from "../../ports/thrown-message.js"
import { BlobStore, type CheckpointManifest } from "../../ports/index.js"
import type { Recipe } from "../../recipes/recipe.js"
import { committedNames, readManifest } from "../../stages/index.js"
import { attemptDirectory } from "./attempt-directory.js"
import { checkpointWriter } from "./checkpoint-writer.js"
import { joinLines, type JsonlLine, readJsonlLines, stepOf } from "./jsonl-lines.js"
import { withRunLock } from "./run-lock.js"
import { AdoptionError } from "./segment-errors.js"

/** A checkpoint whose lines an adoption added to the run, and the attempt they came from. */
export interface AdoptedCheckpoint {
  readonly name: string
  readonly step: number
  readonly attemptId: string
}

const io = <A>(runDir: string, what: string, run: () => Promise<A>) =>
  Effect.tryPromise({ try: run, catch: (cause) => new AdoptionError({ runDir, message: `${what}: ${messageOf(cause)}`, cause }) })

/**
 * The event adoption appends after the lines it adopted: it says which attempt each part of
 * the run came from, and marks the part as adopted, so a second adoption adds nothing.
 */
const segmentEvent = (step: number, data: Readonly<Record<string, unknown>>): JsonlLine => {
  const value = { time: new Date().toISOString(), name: "segment", step, data }
  return { text: JSON.stringify(value), value }
}

const hasSegmentEvent = (events: ReadonlyArray<JsonlLine>, matches: (data: Record<string, unknown>) => boolean) =>
  events.some(({ value }) => value["name"] === "segment" && matches((value["data"] ?? {}) as Record<string, unknown>))

/** The checkpoint a `checkpoint` event names, or undefined for any other line. */
const checkpointNamed = ({ value }: JsonlLine): unknown =>
  value["name"] === "checkpoint" ? (value["data"] as { name?: unknown } | undefined)?.name : undefined

// Step names are zero-padded (`step-00000012`): old ones are skipped without reading them.
const stepOfName = (name: string): number | undefined => {
  const match = /^step-(\d+)$/.exec(name)
  return match === null ? undefined : Number(match[1])
}

/**
 * Appends the attempt's lines up to the committed `manifest`: metrics of the steps after
 * `lastStep` up to the checkpoint's (they must be all of them, each once), and events from
 * the attempt's first after `lastStep` up to the checkpoint's own `checkpoint` event. Events go first and
 * metrics last, each file replaced whole: a crash between the two is caught by the marker
 * event on the next adoption, which then only adds the metrics.
 */
const adoptCheckpoint = (runDir: string, manifest: CheckpointManifest, lastStep: number) =>
  Effect.gen(function*() {
    const writer = yield* io(runDir, `cannot find who wrote checkpoint ${manifest.name}`, () => checkpointWriter(runDir, manifest))
    if (writer === undefined) {
      return yield* new AdoptionError({
        runDir,
        message: `checkpoint ${manifest.name} (step ${manifest.step}) was committed by no attempt of ${runDir}, so its metrics are nowhere to adopt`
      })
    }
    const from = attemptDirectory(runDir, writer)
    const metrics = (yield* io(runDir, `cannot read ${from}`, () => readJsonlLines(join(from, "metrics.jsonl"))))
      .filter((line) => (stepOf(line) ?? -1) > lastStep && (stepOf(line) ?? Infinity) <= manifest.step)
    const steps = metrics.map((line) => stepOf(line))
    const expected = Array.from({ length: manifest.step - lastStep }, (_, i) => lastStep + 1 + i)
    if (steps.join() !== expected.join()) {
      return yield* new AdoptionError({
        runDir,
        message: `attempt ${writer} committed checkpoint ${manifest.name} but holds the metrics of steps [${steps.join(", ")}], ` +
          `not ${lastStep + 1} to ${manifest.step}`
      })
    }
    const runEvents = yield* io(runDir, "cannot read the run's events", () => readJsonlLines(join(runDir, "events.jsonl")))
    if (!hasSegmentEvent(runEvents, (data) => data["checkpoint"] === manifest.name)) {
      const all = yield* io(runDir, `cannot read ${from}`, () => readJsonlLines(join(from, "events.jsonl")))
      // A process that ran several segments holds the events of those adopted before: up to
      // its commit of the checkpoint at `lastStep`.
      const events = all.slice(all.findLastIndex((line) => checkpointNamed(line) !== undefined && (stepOf(line) ?? Infinity) <= lastStep) + 1)
      const commit = events.findIndex((line) => checkpointNamed(line) === manifest.name)
      // An attempt that died right after its commit never sent the event: all it sent counts.
      const adopted = commit >= 0 ? events.slice(0, commit + 1) : events.filter((line) => (stepOf(line) ?? 0) <= manifest.step)
      const marker = segmentEvent(manifest.step, { attempt: writer, checkpoint: manifest.name })
      yield* io(runDir, "cannot write the run's events", () =>
        replaceFile(join(runDir, "events.jsonl"), joinLines([...runEvents, ...adopted, marker])))
    }
    const runMetrics = yield* io(runDir, "cannot read the run's metrics", () => readJsonlLines(join(runDir, "metrics.jsonl")))
    yield* io(runDir, "cannot write the run's metrics", () => replaceFile(join(runDir, "metrics.jsonl"), joinLines([...runMetrics, ...metrics])))
    return { name: manifest.name, step: manifest.step, attemptId: writer } satisfies AdoptedCheckpoint
  })

/** The last step of the run's `metrics.jsonl`: 0 before any line. */
const lastAdoptedStep = (runDir: string) =>
  Effect.map(
    io(runDir, "cannot read the run's metrics", () => readJsonlLines(join(runDir, "metrics.jsonl"))),
    (lines) => lines.reduce((last, line) => Math.max(last, stepOf(line) ?? 0), 0)
  )

/**
 * Brings the run's `metrics.jsonl` and `events.jsonl` up to the newest committed checkpoint
 * of its store: each committed checkpoint past the run's last metrics line, oldest first,
 * brings the lines of the attempt that wrote it (see `checkpointWriter`). Idempotent, and
 * safe to run from several processes at once (they take turns on a lock): run it after a
 * segment, and before the next, to catch up after an orchestrator that died before it could.
 * Resolves with what it adopted.
 */
export const adoptCommitted = (runDir: string, recipe: Recipe) =>
  withRunLock(
    runDir,
    Effect.gen(function*() {
      const store = yield* BlobStore
      let lastStep = yield* lastAdoptedStep(runDir)
      const pending: Array<CheckpointManifest> = []
      for (const name of yield* committedNames(store)) {
        if ((stepOfName(name) ?? Infinity) <= lastStep) continue
        const manifest = yield* readManifest(store, name)
        if (manifest.step > lastStep) pending.push(manifest)
      }
      const adopted: Array<AdoptedCheckpoint> = []
      for (const manifest of pending.sort((a, b) => a.step - b.step)) {
        adopted.push(yield* adoptCheckpoint(runDir, manifest, lastStep))
        lastStep = manifest.step
      }
      return adopted
    }).pipe(Effect.provide(checkpointStoreLayer(recipe, runDir)))
  )

/**
 * Adopts the end of a run that `attemptId` finished: its events after the final checkpoint
 * (the evaluation is before it; publishing and the summary after), then its `summary.json`,
 * which marks the run finished. Run it after `adoptCommitted`. Does nothing once the run
 * holds a summary.
 */
export const adoptFinish = (runDir: string, attemptId: string) =>
  withRunLock(
    runDir,
    Effect.gen(function*() {
      const summary = join(runDir, "summary.json")
      if (existsSync(summary)) return
      const from = attemptDirectory(runDir, attemptId)
      const runEvents = yield* io(runDir, "cannot read the run's events", () => readJsonlLines(join(runDir, "events.jsonl")))
      if (!hasSegmentEvent(runEvents, (data) => data["finished"] === true)) {
        const events = yield* io(runDir, `cannot read ${from}`, () => readJsonlLines(join(from, "events.jsonl")))
        const final = events.findIndex((line) => checkpointNamed(line) === "final")
        // An attempt that resumed from the final checkpoint (its writer died before the end)
        // holds only the end: all of its events.
        const tail = events.slice(final + 1)
        const step = tail.reduce((last, line) => Math.max(last, stepOf(line) ?? 0), 0)
        const marker = segmentEvent(step, { attempt: attemptId, finished: true })
        yield* io(runDir, "cannot write the run's events", () =>
          replaceFile(join(runDir, "events.jsonl"), joinLines([...runEvents, ...tail, marker])))
      }
      yield* io(runDir, `cannot adopt the summary of attempt ${attemptId}`, async () =>
        replaceFile(summary, await readFile(join(from, "summary.json"))))
    })
  )
