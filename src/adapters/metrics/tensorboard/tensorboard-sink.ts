import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { Clock, Effect, Semaphore } from "effect"
import { MetricsError, MetricsSink } from "../../../ports/index.js"
import { messageOf } from "../../../ports/thrown-message.js"
import { fileVersionEvent, scalarsEvent, sessionStartEvent } from "./tensorboard-event.js"
import { tfRecordFrame } from "./tfrecord.js"

/** The numbers of a metrics record or an event's data, in their order; other values are left out. */
export const numericEntries = (values: Readonly<Record<string, unknown>>): Array<readonly [string, number]> =>
  Object.entries(values).flatMap(([key, value]) => typeof value === "number" ? [[key, value] as const] : [])

// Files this process has started, numbered as TensorFlow 2 numbers its writers.
let filesStarted = 0

/**
 * The file name TensorBoard looks for (it reads every file whose name holds `tfevents`, in
 * name order): the start time in seconds and the host, as TensorFlow writes it, then the
 * process id and the file's number in the process, so writers started in the same second
 * never share a file.
 */
const eventFileName = (seconds: number) => `events.out.tfevents.${seconds}.${os.hostname()}.${process.pid}.${filesStarted++}`

/** Settings of the TensorBoard sink. */
export interface TensorboardSinkOptions {
  /**
   * A resumed run logs again from this step on: the file then marks the restart there, so
   * that TensorBoard drops what the earlier run logged from that step on.
   */
  readonly restartAt?: number | undefined
}

/**
 * A {@link MetricsSink} that writes TensorBoard event files: a new file in `dir` (created
 * if missing) per sink, in TFRecord framing, starting with the `brain.Event:2` version
 * event (and, with `restartAt`, a `SessionLog` START at that step); then one event per record with a scalar per metric at the record's step, and one per
 * `eval` event with its measures at the eval's step. Other events and the summary carry no
 * scalars and are not written. Each event is appended as it comes, so a TensorBoard watching
 * the directory sees the run live; `flush` and `summarize` fsync the file, and closing the
 * scope syncs and closes it. Tags are the metric names unchanged (TensorBoard takes any).
 */
export const makeTensorboardSink = Effect.fn("TensorboardSink.make")(function*(dir: string, options: TensorboardSinkOptions = {}) {
  const fail = (what: string) => (error: unknown) => new MetricsError({ message: `cannot ${what}: ${messageOf(error)}`, cause: error })
  const startedAt = yield* Clock.currentTimeMillis
  const file = path.join(dir, eventFileName(Math.floor(startedAt / 1000)))
  const handle = yield* Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        await fs.mkdir(dir, { recursive: true })
        return await fs.open(file, "a")
      },
      catch: fail(`open ${file}`)
    }),
    (handle) => Effect.tryPromise(() => handle.sync().finally(() => handle.close())).pipe(Effect.ignore)
  )
  // Appends of concurrent calls must not interleave within a frame.
  const lock = yield* Semaphore.make(1)
  const append = (event: Uint8Array) =>
    Effect.tryPromise({ try: () => handle.appendFile(tfRecordFrame(event)), catch: fail(`append to ${file}`) }).pipe(lock.withPermits(1))
  const sync = Effect.tryPromise({ try: () => handle.sync(), catch: fail(`sync ${file}`) })
  const scalars = (step: number, values: ReadonlyArray<readonly [string, number]>) =>
    values.length === 0
      ? Effect.void
      : Effect.flatMap(Clock.currentTimeMillis, (now) => append(scalarsEvent(now / 1000, step, values)))

  yield* append(fileVersionEvent(startedAt / 1000))
  if (options.restartAt !== undefined) yield* append(sessionStartEvent(startedAt / 1000, options.restartAt))
  return MetricsSink.of({
    record: (step, metrics) => scalars(step, numericEntries(metrics)),
    event: (event) => event.name === "eval" && event.data !== undefined ? scalars(event.step, numericEntries(event.data)) : Effect.void,
    summarize: () => sync,
    flush: sync
  })
})
