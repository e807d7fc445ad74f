import { Cause, Clock, Effect, Exit, type Redacted, Schema, Semaphore } from "effect"
import { type Metrics, MetricsError, MetricsSink } from "../../../ports/index.js"
import type { TrackerSink } from "../tolerant-sink.js"
import { expectOk, makeMlflowClient, type MlflowClient, refusal } from "./mlflow-client.js"
import { inGroups, mlflowKey, mlflowLimits, mlflowValue } from "./mlflow-limits.js"

/** Where a run is logged in MLflow, and what it is logged with. */
export interface MlflowTrackerOptions {
  /** The tracking server's base URL, e.g. `http://127.0.0.1:5000`. */
  readonly uri: string
  /** The experiment the run goes under; created when the server has none of that name. */
  readonly experiment: string
  /** The MLflow run's name (the recipe's). */
  readonly runName: string
  /** Sent as a bearer token when set. */
  readonly token?: Redacted.Redacted<string> | undefined
  /** The run's parameters (the resolved recipe, flattened), logged once at the start. */
  readonly params?: Readonly<Record<string, string>> | undefined
  /** Tags set on the run when it is created. */
  readonly tags?: Readonly<Record<string, string>> | undefined
  /** Buffered metrics are sent once this many wait. Default 1000, a full `log-batch`. */
  readonly batchSize?: number | undefined
  /** ...or at the first record this long after the last send. Default 10 s. */
  readonly sendEveryMs?: number | undefined
  /** How long one request may take. Default 10 s. */
  readonly timeoutMs?: number | undefined
  /** Tries after the first for a request that may pass. Default 2. */
  readonly retries?: number | undefined
  /**
   * The MLflow run of the run being resumed: it is set RUNNING again and logged on, its
   * params left as they are. When the server no longer has it, a new run is created.
   */
  readonly resumeRunId?: string | undefined
}

/** An MLflow tracker: its sink, its closing, and the id of the MLflow run it logs to. */
export interface MlflowRunTracker extends TrackerSink {
  readonly runId: string
}

interface MlflowMetric {
  readonly key: string
  readonly value: number | string
  readonly timestamp: number
  readonly step: number
}

const ExperimentReply = Schema.Struct({
  experiment: Schema.Struct({ experiment_id: Schema.String, lifecycle_stage: Schema.optional(Schema.String) })
})
const CreatedExperiment = Schema.Struct({ experiment_id: Schema.String })
const CreatedRun = Schema.Struct({ run: Schema.Struct({ info: Schema.Struct({ run_id: Schema.String }) }) })

const decode = <S extends Schema.ConstraintDecoder<unknown>>(schema: S, body: unknown, what: string) =>
  Schema.decodeUnknownEffect(schema)(body).pipe(
    Effect.mapError((issue) => new MetricsError({ message: `answered ${what} with an unexpected body: ${issue.message}`, cause: issue }))
  )

/** The id of the experiment named `name`, created when there is none. */
const experimentId = (client: MlflowClient, name: string): Effect.Effect<string, MetricsError> =>
  Effect.gen(function*() {
    const found = yield* client.call("GET", "experiments/get-by-name", { experiment_name: name })
    if (found.ok) {
      const { experiment } = yield* decode(ExperimentReply, found.body, "experiments/get-by-name")
      if (experiment.lifecycle_stage === "deleted") {
        return yield* new MetricsError({ message: `holds experiment "${name}" as deleted: restore it in MLflow, or name another experiment` })
      }
      return experiment.experiment_id
    }
    if (found.errorCode !== "RESOURCE_DOES_NOT_EXIST") return yield* refusal(found, "GET", "experiments/get-by-name")
    const created = yield* client.call("POST", "experiments/create", { name })
    // Another run may have created it since the lookup.
    if (!created.ok && created.errorCode === "RESOURCE_ALREADY_EXISTS") return yield* experimentId(client, name)
    return (yield* decode(CreatedExperiment, yield* expectOk(created, "POST", "experiments/create"), "experiments/create")).experiment_id
  })

// Keys that map to one MLflow key keep the first; MLflow refuses a param logged twice.
const keyValues = (entries: Readonly<Record<string, string>>, valueLength: number) => {
  const seen = new Map<string, string>()
  for (const [name, value] of Object.entries(entries)) {
    const key = mlflowKey(name)
    if (!seen.has(key)) seen.set(key, value.slice(0, valueLength))
  }
  return [...seen].map(([key, value]) => ({ key, value }))
}

/** How an MLflow run ends, from how the sous run ended. */
const finalStatus = (exit: Exit.Exit<unknown, unknown>): "FINISHED" | "FAILED" | "KILLED" =>
  Exit.isSuccess(exit) ? "FINISHED" : Cause.hasInterruptsOnly(exit.cause) ? "KILLED" : "FAILED"

/**
 * Opens an MLflow run over the REST API 2.0: finds or creates the experiment
 * (`experiments/get-by-name`, `experiments/create`), creates the run with its name, start
 * time and tags (`runs/create`), and logs the params in `runs/log-batch` calls of at most 100;
 * or, given `resumeRunId`, sets that run RUNNING again (`runs/update`).
 * The sink then buffers metrics (a record's metrics at its step, an `eval` event's numbers
 * at the eval's step, each with the time it came in ms) and sends them in `log-batch` calls
 * of at most 1,000: when `batchSize` wait, at the first record `sendEveryMs` after the last
 * send (so a long run streams), and on `flush` and `summarize`. Names are mapped with
 * {@link mlflowKey}, non-finite values with {@link mlflowValue}. `close` sends what is left
 * and ends the run (`runs/update`): FINISHED when the sous run succeeded, KILLED when it was
 * interrupted, FAILED otherwise. Wrap the result with `tolerantSink` so a failing server
 * never fails the run. A resumed run logs again the steps between its checkpoint and where
 * the run before it stopped: MLflow keeps both values of such a step (TensorBoard, told of
 * the restart, drops the older ones).
 */
export const openMlflowTracker = Effect.fn("MlflowTracker.open")(function*(options: MlflowTrackerOptions) {
  const client = makeMlflowClient(options)
  const batchSize = Math.min(options.batchSize ?? mlflowLimits.metricsPerBatch, mlflowLimits.metricsPerBatch)
  const sendEveryMs = options.sendEveryMs ?? 10_000
  const post = (endpoint: string, payload: Readonly<Record<string, unknown>>) =>
    Effect.flatMap(client.call("POST", endpoint, payload), (reply) => expectOk(reply, "POST", endpoint))

  const createRun = Effect.gen(function*() {
    const created = yield* post("runs/create", {
      experiment_id: yield* experimentId(client, options.experiment),
      run_name: options.runName,
      start_time: yield* Clock.currentTimeMillis,
      tags: keyValues(options.tags ?? {}, mlflowLimits.tagValueLength)
    })
    const runId = (yield* decode(CreatedRun, created, "runs/create")).run.info.run_id
    const logParams = Effect.forEach(
      inGroups(keyValues(options.params ?? {}, mlflowLimits.paramValueLength), mlflowLimits.paramsPerBatch),
      (params) => post("runs/log-batch", { run_id: runId, params }),
      { discard: true }
    )
    // A run the server refused params for would stay RUNNING in its UI forever: end it FAILED
    // (once, best effort) before the tracker gives up.
    yield* Effect.onError(logParams, () => Effect.ignore(client.call("POST", "runs/update", { run_id: runId, status: "FAILED" })))
    return runId
  })
  const resumeRun = (runId: string) =>
    Effect.flatMap(client.call("POST", "runs/update", { run_id: runId, status: "RUNNING" }), (reply) =>
      reply.ok ? Effect.succeed(runId) : reply.errorCode === "RESOURCE_DOES_NOT_EXIST" ? createRun : Effect.fail(refusal(reply, "POST", "runs/update")))
  const runId = options.resumeRunId === undefined ? yield* createRun : yield* resumeRun(options.resumeRunId)

  let buffer: Array<MlflowMetric> = []
  let sentAt = yield* Clock.currentTimeMillis
  // One send at a time, so that batches arrive in the order their metrics came.
  const lock = yield* Semaphore.make(1)
  const sendAll = Effect.gen(function*() {
    const metrics = buffer
    buffer = []
    sentAt = yield* Clock.currentTimeMillis
    for (const group of inGroups(metrics, mlflowLimits.metricsPerBatch)) yield* post("runs/log-batch", { run_id: runId, metrics: group })
  })
  const add = (step: number, values: Readonly<Record<string, unknown>>) =>
    Effect.gen(function*() {
      const timestamp = yield* Clock.currentTimeMillis
      for (const [name, value] of Object.entries(values)) {
        if (typeof value === "number") buffer.push({ key: mlflowKey(name), value: mlflowValue(value), timestamp, step })
      }
      if (buffer.length >= batchSize || timestamp - sentAt >= sendEveryMs) yield* sendAll
    }).pipe(lock.withPermits(1))
  const flush = sendAll.pipe(lock.withPermits(1))

  const sink = MetricsSink.of({
    record: (step: number, metrics: Metrics) => add(step, metrics),
    event: (event) => event.name === "eval" && event.data !== undefined ? add(event.step, event.data) : Effect.void,
    summarize: () => flush,
    flush
  })
  const close = (exit: Exit.Exit<unknown, unknown>) =>
    Effect.gen(function*() {
      yield* flush
      yield* post("runs/update", { run_id: runId, status: finalStatus(exit), end_time: yield* Clock.currentTimeMillis })
    })
  return { sink, close, runId } satisfies MlflowRunTracker
})
