import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, type LogLevel } from "effect"
import { resumeRecipe, runRecipe } from "../../../src/kitchen/index.js"
import { loadRecipe } from "../../../src/recipes/index.js"
import type { TrackerSection } from "../../../src/recipes/recipe-sections.js"
import { otlpReceiver, type ReceivedSpan } from "../../support/otlp-receiver.js"
import { readEvents, readMetrics } from "../../support/run-directory.js"
import { sftRecipe, shortSftSets } from "../../support/short-sft.js"
import { tempDirectory } from "../../support/temp-directory.js"

interface LogLine {
  readonly level: LogLevel.LogLevel
  readonly message: string
  readonly hasCause: boolean
}

// Four steps of the sft example, a checkpoint at 2 and an evaluation at 4, every log line
// captured.
const shortRun = (runDir: string, trackers: ReadonlyArray<TrackerSection>) =>
  Effect.gen(function*() {
    const recipe = yield* loadRecipe(sftRecipe, shortSftSets(4, 2))
    const lines: Array<LogLine> = []
    const capture = Logger.make(({ cause, logLevel, message }) => {
      const text = (Array.isArray(message) ? message : [message]).map(String).join(" ")
      lines.push({ level: logLevel, message: text, hasCause: cause.reasons.length > 0 })
    })
    const result = yield* runRecipe({ ...recipe, trackers }, { runDir }).pipe(Effect.provide(Logger.layer([capture])))
    return { recipe, result, lines }
  })

// The root's descendants: every span whose parent chain ends at it.
const descendsFrom = (spans: ReadonlyArray<ReceivedSpan>, root: ReceivedSpan, span: ReceivedSpan) => {
  const byId = new Map(spans.map((s) => [s.spanId, s]))
  for (let parent = span.parentSpanId; parent !== undefined; parent = byId.get(parent)?.parentSpanId) {
    if (parent === root.spanId) return true
  }
  return false
}

// A port nothing listens on: one the system gave a server that is closed again.
const closedPort = Effect.promise(() =>
  new Promise<number>((resolve) => {
    const server = http.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
)

describe("otlp tracker", () => {
  it.live("exports the run's spans and every step's metrics, with the headers headersEnv names", () =>
    Effect.gen(function*() {
      const receiver = yield* otlpReceiver
      const runDir = yield* tempDirectory("otlp")
      process.env["SOUS_TEST_OTLP_HEADERS"] = "Authorization=Bearer%20s3cret-token,x-tenant=acme"
      const { lines, recipe } = yield* shortRun(runDir, [
        { kind: "otlp", endpoint: receiver.url, serviceName: "sous-test", headersEnv: "SOUS_TEST_OTLP_HEADERS" }
      ]).pipe(Effect.ensuring(Effect.sync(() => delete process.env["SOUS_TEST_OTLP_HEADERS"])))

      assert.deepStrictEqual(receiver.rejected, [])
      assert.isNotEmpty(receiver.requests)
      for (const request of receiver.requests) {
        assert.strictEqual(request.contentType, "application/x-protobuf")
        assert.strictEqual(request.headers["authorization"], "Bearer s3cret-token")
        assert.strictEqual(request.headers["x-tenant"], "acme")
      }
      assert.isFalse(lines.some((line) => line.message.includes("s3cret")), "the token reached a log line")

      const spans = receiver.spans()
      const roots = spans.filter((span) => span.name === "sous.runRecipe")
      assert.strictEqual(roots.length, 1)
      const root = roots[0]!
      assert.isUndefined(root.parentSpanId)
      assert.strictEqual(root.resource["service.name"], "sous-test")
      assert.strictEqual(root.resource["sous.run.name"], recipe.name)
      assert.match(String(root.attributes["sous.run.id"]), /^[0-9a-f-]{36}$/)

      // Every stage that ran is a span under the root, in its trace, with its step.
      const stageSpans = spans.filter((span) => span.name.startsWith("sous.stage."))
      const stagesRun = readEvents(runDir).filter((event) => event.name === "stage.end")
      assert.strictEqual(stageSpans.length, stagesRun.length)
      for (const span of stageSpans) {
        assert.strictEqual(span.traceId, root.traceId)
        assert.isTrue(descendsFrom(spans, root, span), `${span.name} is not under sous.runRecipe`)
        assert.isNumber(span.attributes["step"])
      }
      const logSteps = stageSpans.filter((span) => span.name === "sous.stage.log-metrics").map((span) => span.attributes["step"])
      assert.deepStrictEqual(logSteps, [1, 2, 3, 4])

      // Every step's loss is a data point of its own, with the step beside it at the same time.
      const metrics = readMetrics(runDir)
      const losses = receiver.points("sous.loss")
      assert.deepStrictEqual(losses.map((point) => point.value), metrics.map((line) => line.loss))
      assert.deepStrictEqual(receiver.points("sous.grad_norm_mean").map((point) => point.value), metrics.map((line) => line["grad_norm:mean"]))
      const stepAt = new Map(receiver.points("sous.step").map((point) => [point.timeUnixNano, point.value]))
      assert.deepStrictEqual(losses.map((point) => stepAt.get(point.timeUnixNano)), [1, 2, 3, 4])
      for (const point of losses) {
        assert.strictEqual(point.attributes["sous.run.id"], root.attributes["sous.run.id"])
        assert.strictEqual(point.resource["service.name"], "sous-test")
      }
      const evals = readEvents(runDir).filter((event) => event.name === "eval")
      assert.isNotEmpty(evals)
      assert.deepStrictEqual(receiver.points("sous.eval_nll").map((point) => point.value), evals.map((event) => event.data?.["eval_nll"]))

      assert.deepStrictEqual(lines.filter((line) => line.level === "Warn" || line.level === "Error"), [])
    }))

  it.live("lets a run whose collector is unreachable finish, with one warning and no stack", () =>
    Effect.gen(function*() {
      const endpoint = `http://127.0.0.1:${yield* closedPort}`
      const runDir = yield* tempDirectory("otlp-down")
      const { lines, result } = yield* shortRun(runDir, [{ kind: "otlp", endpoint, serviceName: "sous" }])
      assert.strictEqual(result.step, 4)
      assert.strictEqual(readMetrics(runDir).length, 4)
      const warnings = lines.filter((line) => line.level === "Warn" || line.level === "Error" || line.level === "Fatal")
      assert.strictEqual(warnings.length, 1, warnings.map((line) => line.message).join("\n"))
      assert.match(
        warnings[0]!.message,
        new RegExp(`^otlp tracker at ${endpoint} is unreachable \\(.*ECONNREFUSED.*\\); the run goes on without it$`)
      )
      assert.isFalse(warnings[0]!.hasCause)
      assert.isFalse(lines.some((line) => line.message.includes("Disabling exporter")))
    }))


  it.live("exports a resumed run as a trace of its own, under the run's id, its metrics continuing", () =>
    Effect.gen(function*() {
      const receiver = yield* otlpReceiver
      const runDir = yield* tempDirectory("otlp-resume")
      const recipe = yield* loadRecipe(sftRecipe, shortSftSets(4, 2))
      const traced = { ...recipe, trackers: [{ kind: "otlp" as const, endpoint: receiver.url, serviceName: "sous" }] }
      const first = yield* runRecipe(traced, { runDir, afterCheckpoint: () => Effect.succeed("stop" as const) })
      assert.strictEqual(first.stoppedAfter?.step, 2)
      yield* resumeRecipe(traced, { runDir, fallback: false })

      const spans = receiver.spans()
      const roots = spans.filter((span) => span.parentSpanId === undefined)
      assert.deepStrictEqual(roots.map((span) => span.name), ["sous.runRecipe", "sous.resumeRecipe"])
      const [run, resumed] = [roots[0]!, roots[1]!]
      assert.notStrictEqual(resumed.traceId, run.traceId)
      assert.strictEqual(resumed.attributes["sous.run.id"], run.attributes["sous.run.id"])
      assert.strictEqual(resumed.attributes["sous.resume.checkpoint"], first.stoppedAfter?.name)
      const resumedSteps = spans
        .filter((span) => span.name === "sous.stage.log-metrics" && descendsFrom(spans, resumed, span))
        .map((span) => span.attributes["step"])
      assert.deepStrictEqual(resumedSteps, [3, 4])
      const losses = receiver.points("sous.loss")
      assert.deepStrictEqual(losses.map((point) => point.value), readMetrics(runDir).map((line) => line.loss))
      assert.isTrue(losses.every((point) => point.attributes["sous.run.id"] === run.attributes["sous.run.id"]))
    }))
})
