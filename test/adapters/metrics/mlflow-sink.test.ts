import * as net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Redacted } from "effect"
import { openMlflowTracker } from "../../../src/adapters/metrics/mlflow/mlflow-sink.js"
import { mlflowServer } from "../../support/mlflow-server.js"

/** A port nothing listens on: bound, then let go. */
const closedPort = Effect.callback<number>((resume) => {
  const server = net.createServer().listen(0, "127.0.0.1", () => {
    const { port } = server.address() as net.AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})

const post = (url: string, endpoint: string, body: unknown) =>
  Effect.promise(async () => {
    const response = await fetch(`${url}/api/2.0/mlflow/${endpoint}`, { method: "POST", body: JSON.stringify(body) })
    return { status: response.status, body: await response.json() as Record<string, unknown> }
  })

const metric = (key: string, value: unknown = 1) => ({ key, value, timestamp: 1, step: 0 })

describe("openMlflowTracker", () => {
  it.live("creates the experiment and the run, logs params and metrics within MLflow's limits, and ends the run FINISHED", () =>
    Effect.gen(function*() {
      const server = yield* mlflowServer({ token: "t0ken-secret" })
      const params: Record<string, string> = { "optimizer.lr": "0.003", "odd:key": "x", long: "v".repeat(7000) }
      for (let index = 0; index < 250; index++) params[`p.${String(index).padStart(3, "0")}`] = String(index)
      const wide = Object.fromEntries(Array.from({ length: 1500 }, (_, index) => [`m${index}`, index]))

      const tracker = yield* openMlflowTracker({
        uri: `${server.url}/`,
        experiment: "sous-test",
        runName: "sft-arithmetic",
        token: Redacted.make("t0ken-secret"),
        params,
        tags: { "sous.kind": "supervised" },
        sendEveryMs: 3_600_000
      })
      yield* tracker.sink.record(1, { loss: 2.5, "grad_norm:mean": 297.8, lr: 1e-4 })
      yield* tracker.sink.event({ name: "eval", step: 1, data: { eval_nll: 1.83, eval_tokens: 702 } })
      yield* tracker.sink.event({ name: "checkpoint", step: 1, data: { name: "step-1" } })
      yield* tracker.sink.record(2, { loss: Number.NaN, lr: Number.POSITIVE_INFINITY })
      // Nothing of the metrics has gone yet: they wait for a full batch, the interval or a flush.
      assert.isFalse(server.requests().some((request) => JSON.stringify(request.body).includes("\"metrics\"")))
      yield* tracker.sink.record(3, wide)
      yield* tracker.close(Exit.void)

      const [run, ...others] = server.runs()
      assert.strictEqual(others.length, 0)
      assert.strictEqual(run!.experimentId, server.experiments().get("sous-test"))
      assert.strictEqual(run!.name, "sft-arithmetic")
      assert.deepStrictEqual(run!.tags, { "sous.kind": "supervised" })
      assert.strictEqual(run!.status, "FINISHED")
      assert.isTrue(run!.endTime! >= run!.startTime)
      assert.strictEqual(Object.keys(run!.params).length, 253)
      assert.strictEqual(run!.params["optimizer.lr"], "0.003")
      assert.strictEqual(run!.params["odd_key"], "x")
      assert.strictEqual(run!.params["long"], "v".repeat(6000))

      const at = (key: string) => run!.metrics.filter((m) => m.key === key).map(({ step, value }) => ({ step, value }))
      assert.deepStrictEqual(at("loss"), [{ step: 1, value: 2.5 }, { step: 2, value: "NaN" }])
      assert.deepStrictEqual(at("lr"), [{ step: 1, value: 1e-4 }, { step: 2, value: "Infinity" }])
      assert.deepStrictEqual(at("grad_norm_mean"), [{ step: 1, value: 297.8 }])
      assert.deepStrictEqual(at("eval_nll"), [{ step: 1, value: 1.83 }])
      assert.deepStrictEqual(at("m1499"), [{ step: 3, value: 1499 }])
      assert.strictEqual(run!.metrics.length, 3 + 2 + 2 + 1500)

      const batches = server.requests().filter((request) => request.endpoint === "runs/log-batch").map((request) => request.body as Record<string, Array<unknown>>)
      // Params in groups of 100, then the metrics in groups of 1,000 once 1,000 waited.
      assert.deepStrictEqual(batches.map((batch) => [batch["params"]?.length ?? 0, batch["metrics"]?.length ?? 0]), [
        [100, 0], [100, 0], [53, 0], [0, 1000], [0, 507]
      ])
      assert.isTrue(server.requests().every((request) => request.authorization === "Bearer t0ken-secret"))
    }))

  it.live("finds an existing experiment, and ends a failed run FAILED and an interrupted one KILLED", () =>
    Effect.gen(function*() {
      const server = yield* mlflowServer()
      const open = (runName: string) => openMlflowTracker({ uri: server.url, experiment: "shared", runName })
      const failed = yield* open("a")
      const killed = yield* open("b")
      yield* failed.close(Exit.fail("diverged"))
      yield* killed.close(Exit.interrupt(1))
      assert.strictEqual(server.experiments().size, 1)
      assert.deepStrictEqual(server.runs().map((run) => [run.name, run.status, run.experimentId]), [["a", "FAILED", "1"], ["b", "KILLED", "1"]])
    }))

  it.live("logs a resumed run on to its MLflow run, or to a new one when the server lost it", () =>
    Effect.gen(function*() {
      const server = yield* mlflowServer()
      const options = { uri: server.url, experiment: "e", runName: "r", params: { "optimizer.lr": "0.003" } }
      const first = yield* openMlflowTracker(options)
      yield* first.close(Exit.fail("killed"))
      const resumed = yield* openMlflowTracker({ ...options, resumeRunId: first.runId })
      assert.strictEqual(resumed.runId, first.runId)
      assert.strictEqual(server.runs()[0]!.status, "RUNNING")
      yield* resumed.close(Exit.void)
      const lost = yield* openMlflowTracker({ ...options, resumeRunId: "0".repeat(32) })
      assert.notStrictEqual(lost.runId, first.runId)
      assert.deepStrictEqual(server.runs().map((run) => [run.runId, run.status, run.params]), [
        [first.runId, "FINISHED", { "optimizer.lr": "0.003" }],
        [lost.runId, "RUNNING", { "optimizer.lr": "0.003" }]
      ])
      // The params went once to each run: a resumed run does not log them again.
      assert.strictEqual(server.requests().filter((request) => JSON.stringify(request.body).includes("\"params\"")).length, 2)
    }))

  it.live("sends as soon as batchSize metrics wait, or at the first record after sendEveryMs", () =>
    Effect.gen(function*() {
      const server = yield* mlflowServer()
      const sent = () => server.runs()[0]!.metrics.length
      const bySize = yield* openMlflowTracker({ uri: server.url, experiment: "e", runName: "r", batchSize: 4, sendEveryMs: 3_600_000 })
      yield* bySize.sink.record(1, { a: 1, b: 2, c: 3 })
      assert.strictEqual(sent(), 0)
      yield* bySize.sink.record(2, { a: 1, b: 2, c: 3 })
      assert.strictEqual(sent(), 6)
      const byTime = yield* openMlflowTracker({ uri: server.url, experiment: "e", runName: "r", sendEveryMs: 0 })
      yield* byTime.sink.record(1, { a: 1 })
      assert.strictEqual(server.runs()[1]!.metrics.length, 1)
    }))

  it.live("fails with the call and MLflow's error when refused, and never shows the token", () =>
    Effect.gen(function*() {
      const server = yield* mlflowServer({ token: "right" })
      const error = yield* Effect.flip(openMlflowTracker({ uri: server.url, experiment: "e", runName: "r", token: Redacted.make("wrong-token-123") }))
      assert.strictEqual(error.message, "answered 401 UNAUTHENTICATED to GET experiments/get-by-name: You are not authenticated.")
      assert.strictEqual(server.requests()[0]!.authorization, "Bearer wrong-token-123")
    }))

  it.live("fails as unreachable when nothing listens, after its retries", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const error = yield* Effect.flip(openMlflowTracker({ uri: `http://127.0.0.1:${port}`, experiment: "e", runName: "r", retries: 1 }))
      assert.strictEqual(error.message, "is unreachable (ECONNREFUSED)")
    }))
})

describe("the stand-in MLflow server", () => {
  it.live("refuses what MLflow refuses, with MLflow's error JSON", () =>
    Effect.gen(function*() {
      const { url } = yield* mlflowServer()
      const { experiment_id } = (yield* post(url, "experiments/create", { name: "e" })).body
      const runId = ((yield* post(url, "runs/create", { experiment_id })).body["run"] as { info: { run_id: string } }).info.run_id
      const logBatch = (body: Record<string, unknown>) => post(url, "runs/log-batch", { run_id: runId, ...body })
      const refusals = [
        yield* logBatch({ metrics: Array.from({ length: 1001 }, (_, index) => metric(`m${index}`)) }),
        yield* logBatch({ params: Array.from({ length: 101 }, (_, index) => ({ key: `p${index}`, value: "1" })) }),
        yield* logBatch({ metrics: Array.from({ length: 950 }, (_, index) => metric(`m${index}`)), params: Array.from({ length: 51 }, (_, index) => ({ key: `p${index}`, value: "1" })) }),
        yield* logBatch({ metrics: [metric("grad_norm:mean")] }),
        yield* logBatch({ metrics: [metric("a//b")] }),
        yield* logBatch({ metrics: [metric("loss", "abc")] }),
        yield* logBatch({ metrics: [{ key: "loss", value: 1, step: 1 }] }),
        yield* logBatch({ params: [{ key: "p", value: 3 }] }),
        yield* logBatch({ params: [{ key: "p", value: "v".repeat(6001) }] }),
        yield* post(url, "runs/log-batch", { metrics: [metric("loss")] }),
        yield* post(url, "runs/update", { run_id: runId, status: "DONE" })
      ]
      for (const [index, refusal] of refusals.entries()) {
        assert.strictEqual(refusal.status, 400, `refusal ${index}`)
        assert.strictEqual(refusal.body["error_code"], "INVALID_PARAMETER_VALUE", `refusal ${index}`)
      }
      assert.strictEqual((yield* logBatch({ params: [{ key: "p", value: "1" }], metrics: [metric("loss", "NaN")] })).status, 200)
      const changed = yield* logBatch({ params: [{ key: "p", value: "2" }] })
      assert.match(String(changed.body["message"]), /^Changing param values is not allowed/)
      assert.strictEqual((yield* post(url, "runs/log-batch", { run_id: "nope" })).body["error_code"], "RESOURCE_DOES_NOT_EXIST")
    }))
})
