/**
 * A durable run: the workflow that carries a run directory to its end, one segment activity
 * at a time, honouring pause and cancel between segments and retrying a segment that fails
 * for a reason that may pass. The engine journals each finished segment, so a worker that
 * takes the run over after a crash replays those at once and runs only the segment that was
 * running (from the newest committed checkpoint).
 */
import { Duration, Effect, Layer, Schema } from "effect"
import { Activity, DurableClock, Workflow } from "effect/workflow"
import { RunFailedError, type SegmentAttemptError } from "./run-errors.js"
import { appendRunEvent, findRun, isCancel, updateRun } from "./run-store.js"
import { SegmentPool } from "./segment/index.js"
import { segmentActivity, type SegmentActivityOptions, type SegmentOutcome } from "./segment-activity.js"

/** The run workflow: keyed by run id, so starting it twice joins the one execution. */
export const RunWorkflow = Workflow.make("sous/run", {
  payload: {
    runId: Schema.String,
    runDir: Schema.String,
    maxAttempts: Schema.Int,
    backoffMillis: Schema.Int
  },
  success: Schema.Literals(["succeeded", "cancelled"]),
  error: RunFailedError,
  idempotencyKey: ({ runId }) => runId
})

/** The payload of {@link RunWorkflow}. */
export type RunPayload = typeof RunWorkflow.payloadSchema.Type

/** Settings of the workflow's handler. */
export interface RunWorkflowOptions extends SegmentActivityOptions {
  /** How often a paused run looks for resume or cancel (default 1 s). */
  readonly pausePollEvery?: Duration.Input | undefined
  /** A guard against a run that never ends (default 10 000 segments). */
  readonly maxSegments?: number | undefined
}

/**
 * Waits while the run is asked to pause (its state `paused` meanwhile) and resolves with
 * `cancel` or `go`. Control is a row another process writes, so it is polled. Read outside
 * any activity on purpose: a replay after a crash must see the control as it is now.
 */
const controlGate = ({ runDir, runId }: RunPayload, options: RunWorkflowOptions) =>
  Effect.gen(function*() {
    let paused = false
    while (true) {
      const row = yield* findRun(runId)
      if (row === undefined || isCancel(row.control)) return "cancel" as const
      if (row.control !== "pause") {
        if (paused || row.state === "paused") {
          yield* updateRun(runId, { state: "running" })
          yield* appendRunEvent(runId, "resumed")
        }
        return "go" as const
      }
      if (!paused && row.state !== "paused") {
        // The process kept at the checkpoint would hold its memory for as long as the pause.
        yield* releaseSegment(runDir)
        yield* updateRun(runId, { state: "paused", segment_pid: null })
        yield* appendRunEvent(runId, "paused")
      }
      paused = true
      yield* Effect.sleep(options.pausePollEvery ?? Duration.seconds(1))
    }
  })

/** Stops the segment process the worker kept for the run, if it kept one. */
const releaseSegment = (runDir: string) =>
  Effect.gen(function*() {
    const pool = yield* SegmentPool
    yield* pool.release(runDir)
  })

const finish = ({ runDir, runId }: RunPayload, state: "succeeded" | "cancelled" | "failed", error?: string) =>
  Effect.andThen(
    releaseSegment(runDir),
    updateRun(runId, { state, control: "none", segment_pid: null, finished_at: Date.now(), ...(error === undefined ? {} : { last_error: error }) })
  ).pipe(Effect.andThen(appendRunEvent(runId, error === undefined ? state : `failed: ${error}`)))

/**
 * Runs segment `segment` until it ends, trying again after a retryable failure up to the
 * run's attempts. Each try is the activity's next attempt (a journal entry of its own); the
 * wait between tries is a `DurableClock`, so a replay does not wait again. (`Activity.retry`
 * takes no schedule, hence the loop.) Resolves with the outcome, `cancel` when the run was
 * cancelled between tries, or the last failure.
 */
const runSegmentWithRetries = (payload: RunPayload, segment: number, options: RunWorkflowOptions) =>
  Effect.gen(function*() {
    for (let attempt = 1;; attempt++) {
      if ((yield* controlGate(payload, options)) === "cancel") return "cancel" as const
      const exit = yield* segmentActivity(payload.runId, payload.runDir, segment, options).pipe(
        Effect.provideService(Activity.CurrentAttempt, attempt),
        Effect.exit
      )
      if (exit._tag === "Success") return exit.value
      const error = exit.cause.reasons.find((reason) => reason._tag === "Fail")?.error as SegmentAttemptError | undefined
      if (error === undefined || !error.retryable || attempt >= payload.maxAttempts) {
        // The error's tag names what was wrong (DatasetRowError, ResumeRefusedError, ...).
        const failed = error === undefined ? "the segment died" : `${error.errorTag}: ${error.message}`
        return { failed, attempts: attempt, retryable: error?.retryable ?? true }
      }
      const wait = payload.backoffMillis * 2 ** (attempt - 1)
      yield* appendRunEvent(payload.runId, `segment ${segment} attempt ${attempt} failed (${error.errorTag}): ${error.message}; trying again in ${wait} ms`)
      yield* updateRun(payload.runId, { last_error: error.message })
      yield* DurableClock.sleep({ name: `segment-${segment}-backoff-${attempt}`, duration: Duration.millis(wait) })
    }
  })

const isOutcome = (value: SegmentOutcome | "cancel" | { readonly failed: string }): value is SegmentOutcome =>
  typeof value === "object" && "outcome" in value

/**
 * The handler of {@link RunWorkflow} as a layer, to run in a worker beside an engine and the
 * `SqlClient` of the runs table. The table writes are idempotent, so a replay repeating them
 * does no harm; a database error there is a defect (the engine records it), since the run's
 * progress is safe in its checkpoint store either way.
 */
export const runWorkflowLayer = (options: RunWorkflowOptions = {}) =>
  RunWorkflow.toLayer(Effect.fnUntraced(function*(payload) {
    const { runId } = payload
    const maxSegments = options.maxSegments ?? 10_000
    return yield* Effect.gen(function*() {
      for (let segment = 1; segment <= maxSegments; segment++) {
        const ended = yield* runSegmentWithRetries(payload, segment, options)
        if (ended === "cancel" || (isOutcome(ended) && ended.outcome === "cancelled")) {
          yield* finish(payload, "cancelled")
          return "cancelled" as const
        }
        if (!isOutcome(ended)) {
          const message = ended.retryable
            ? `segment ${segment} failed ${ended.attempts} times; the last: ${ended.failed}`
            : ended.failed
          yield* finish(payload, "failed", message)
          return yield* new RunFailedError({ runId, message })
        }
        if (ended.outcome === "finished") {
          yield* finish(payload, "succeeded")
          return "succeeded" as const
        }
      }
      const message = `the run did not finish in ${maxSegments} segments`
      yield* finish(payload, "failed", message)
      return yield* new RunFailedError({ runId, message })
    }).pipe(Effect.catchTag("SqlError", Effect.die))
  })).pipe(Layer.provide(SegmentPool.layer))
