import { readdirSync, readFileSync, writeFileSync } from "node:fs"
import * as net from "node:net"
import { dirname, join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, type LogLevel } from "effect"
import { runRecipe } from "../../src/kitchen/index.js"
import { mlflowRunsFile, trackerSinks } from "../../src/kitchen/trackers.js"
import { loadRecipe } from "../../src/recipes/index.js"
import { mlflowServer } from "../support/mlflow-server.js"
import { readEvents, readMetrics } from "../support/run-directory.js"
import { shortSftSets, sftRecipe } from "../support/short-sft.js"
import { readEvents as readTensorboard } from "../support/tensorboard-reader.js"
import { tempDirectory } from "../support/temp-directory.js"

const steps = 4

/** Runs the shortened example with `trackers` (YAML), keeping every log line. */
const runWith = (trackers: string, runDir: string) =>
  Effect.gen(function*() {
    const lines: Array<{ readonly level: LogLevel.LogLevel; readonly message: unknown }> = []
    const capture = Logger.make(({ logLevel, message }) => {
      lines.push({ level: logLevel, message })
    })
    const recipe = yield* loadRecipe(sftRecipe, [...shortSftSets(steps, 2), `trackers=${trackers}`])
    const result = yield* runRecipe(recipe, { runDir }).pipe(Effect.provide(Logger.layer([capture])))
    return { result, warnings: lines.filter((line) => line.level === "Warn").map((line) => line.message) }
  })

/** The frames of a TFRecord file, by their length fields (the sink's tests check the rest). */
const frameCount = (file: string): number => {
  const bytes = readFileSync(file)
  let count = 0
  for (let offset = 0; offset < bytes.length; offset += 16 + Number(bytes.readBigUInt64LE(offset))) count++
  return count
}

describe("recipe trackers", () => {
  it.live("report a run to MLflow and TensorBoard: experiment, run, params, every step's loss, the evals, status FINISHED", () =>
    Effect.gen(function*() {
      const server = yield* mlflowServer()
      const runDir = yield* tempDirectory("trackers")
      const { result, warnings } = yield* runWith(`[{kind: mlflow, uri: "${server.url}", experiment: e2e}, {kind: tensorboard}]`, runDir)
      assert.strictEqual(result.step, steps)
      assert.deepStrictEqual(warnings, [])

      const [run, ...others] = server.runs()
      assert.strictEqual(others.length, 0)
      assert.strictEqual(run!.experimentId, server.experiments().get("e2e"))
      assert.strictEqual(run!.name, "sft-arithmetic")
      assert.strictEqual(run!.status, "FINISHED")
      assert.strictEqual(run!.params["optimizer.lr"], "0.003")
      assert.strictEqual(run!.params["training.steps"], String(steps))
      assert.notProperty(run!.params, "trackers")
      assert.strictEqual(run!.tags["sous.kind"], "supervised")

      const logged = (key: string) => run!.metrics.filter((m) => m.key === key).map(({ step, value }) => [step, value])
      assert.deepStrictEqual(logged("loss"), readMetrics(runDir).map((line) => [line.step, line["loss"]]))
      assert.deepStrictEqual(logged("grad_norm_mean"), readMetrics(runDir).map((line) => [line.step, line["grad_norm:mean"]]))
      const evals = readEvents(runDir).filter((event) => event.name === "eval")
      assert.isAtLeast(evals.length, 2)
      assert.deepStrictEqual(logged("eval_nll"), evals.map((event) => [event.step, event.data!["eval_nll"]]))

      const [file, ...more] = readdirSync(join(runDir, "tensorboard"))
      assert.strictEqual(more.length, 0)
      // The version event, one per step, one per eval.
      assert.strictEqual(frameCount(join(runDir, "tensorboard", file!)), 1 + steps + evals.length)
    }))

  it.live("finish a run whose MLflow server is down, with exactly one warning", () =>
    Effect.gen(function*() {
      const port = yield* Effect.callback<number>((resume) => {
        const server = net.createServer().listen(0, "127.0.0.1", () => {
          const { port } = server.address() as net.AddressInfo
          server.close(() => resume(Effect.succeed(port)))
        })
      })
      const runDir = yield* tempDirectory("trackers")
      const { result, warnings } = yield* runWith(`[{kind: mlflow, uri: "http://127.0.0.1:${port}"}]`, runDir)
      assert.strictEqual(result.step, steps)
      assert.strictEqual(readMetrics(runDir).length, steps)
      assert.deepStrictEqual(warnings, [[`mlflow tracker at http://127.0.0.1:${port} is unreachable (ECONNREFUSED); the run goes on without it`]])
    }))

  it.live("log a resumed run on to the same MLflow run, and mark the restart in a new TensorBoard file", () =>
    Effect.gen(function*() {
      const server = yield* mlflowServer()
      const runDir = yield* tempDirectory("trackers")
      const recipe = yield* loadRecipe(sftRecipe, [`trackers=[{kind: mlflow, uri: "${server.url}"}, {kind: tensorboard}]`])
      // Each run logs step 3; the first is then interrupted, the resumed one ends.
      const open = (resumeAfter: { readonly step: number } | undefined, end: Effect.Effect<void>) =>
        Effect.scoped(Effect.flatMap(trackerSinks(recipe, runDir, resumeAfter), (sinks) =>
          Effect.andThen(Effect.forEach(sinks, (sink) => sink.record(3, { loss: 1 })), end)))
      yield* Effect.exit(open(undefined, Effect.interrupt))
      assert.strictEqual(server.runs()[0]!.status, "KILLED")
      yield* open({ step: 2 }, Effect.void)
      const [run, ...others] = server.runs()
      assert.strictEqual(others.length, 0)
      assert.strictEqual(run!.status, "FINISHED")
      // MLflow keeps both values of a step logged again after a resume (TensorBoard drops one).
      assert.deepStrictEqual(run!.metrics.map((m) => [m.key, m.step]), [["loss", 3], ["loss", 3]])
      const files = readdirSync(join(runDir, "tensorboard")).sort()
      assert.strictEqual(files.length, 2)
      const restarts = files.map((file) => readTensorboard(join(runDir, "tensorboard", file)).filter((event) => event.sessionLog !== undefined))
      assert.deepStrictEqual(restarts.map((events) => events.map((event) => [event.step, event.sessionLog!.status])), [[], [[3, "START"]]])
    }))

  it.live("start a new MLflow run when the record of the last one is damaged, and restart TensorBoard's series where event files are", () =>
    Effect.gen(function*() {
      const server = yield* mlflowServer()
      const runDir = yield* tempDirectory("trackers")
      const recipe = yield* loadRecipe(sftRecipe, [`trackers=[{kind: mlflow, uri: "${server.url}"}, {kind: tensorboard}]`])
      const open = Effect.scoped(Effect.flatMap(trackerSinks(recipe, runDir), (sinks) => Effect.forEach(sinks, (sink) => sink.record(1, { loss: 1 }))))
      yield* open
      writeFileSync(mlflowRunsFile(runDir), "{not json")
      // A durable run's second attempt after a first that died before any checkpoint.
      yield* open
      assert.deepStrictEqual(server.runs().map((run) => run.status), ["FINISHED", "FINISHED"])
      const files = readdirSync(join(runDir, "tensorboard")).sort()
      const restarts = files.map((file) => readTensorboard(join(runDir, "tensorboard", file)).filter((event) => event.sessionLog !== undefined))
      assert.deepStrictEqual(restarts.map((events) => events.map((event) => [event.step ?? 0, event.sessionLog!.status])), [[], [[0, "START"]]])
    }))

  it.live("refuse an MLflow uri with a password in it, without ever printing the password", () =>
    Effect.gen(function*() {
      const runDir = yield* tempDirectory("trackers")
      const { result, warnings } = yield* runWith(`[{kind: mlflow, uri: "http://user:s3cret@127.0.0.1:1"}]`, runDir)
      assert.strictEqual(result.step, steps)
      assert.strictEqual(warnings.length, 1)
      assert.include(String(warnings[0]), "mlflow tracker at http://127.0.0.1:1 cannot start: its uri holds a user or password")
      assert.notInclude(String(warnings[0]), "s3cret")
    }))

  it.effect("resolve a TensorBoard dir against the recipe file's directory", () =>
    Effect.gen(function*() {
      const recipe = yield* loadRecipe(sftRecipe, ["trackers=[{kind: tensorboard, dir: tb}, {kind: tensorboard, dir: /abs/tb}]"])
      assert.deepStrictEqual(recipe.trackers, [{ kind: "tensorboard", dir: join(dirname(sftRecipe), "tb") }, { kind: "tensorboard", dir: "/abs/tb" }])
    }))
})
