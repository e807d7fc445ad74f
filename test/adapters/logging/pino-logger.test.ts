import { Writable } from "node:stream"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { type PinoLoggerOptions, pinoLoggerLayer } from "../../../src/adapters/logging/pino-logger.js"

// A destination that keeps what it is given.
const captureDestination = () => {
  const chunks: Array<string> = []
  const destination = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      chunks.push(chunk.toString())
      done()
    }
  })
  return { destination, text: () => chunks.join("") }
}

// Runs `program` with the pino logger and answers the JSON lines it wrote.
const jsonLines = <E>(
  program: Effect.Effect<void, E>,
  options: Omit<PinoLoggerOptions, "destination"> = {}
): Effect.Effect<ReadonlyArray<Record<string, unknown>>, E> =>
  Effect.gen(function*() {
    const { destination, text } = captureDestination()
    yield* program.pipe(Effect.provide(pinoLoggerLayer({ ...options, destination })))
    return text().split("\n").filter((line) => line !== "").map((line) => JSON.parse(line) as Record<string, unknown>)
  })

describe("pino logger", () => {
  it.effect("writes a JSON line with message, level, time and annotations", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.parse("2025-03-04T05:06:07.089Z"))
      const lines = yield* jsonLines(
        Effect.logInfo("checkpoint committed", "step-7").pipe(Effect.annotateLogs({ step: 7, stage: "checkpoint" }))
      )
      assert.strictEqual(lines.length, 1)
      const line = lines[0]!
      assert.strictEqual(line["msg"], "checkpoint committed step-7")
      assert.strictEqual(line["level"], 30)
      assert.strictEqual(line["time"], Date.parse("2025-03-04T05:06:07.089Z"))
      assert.strictEqual(line["step"], 7)
      assert.strictEqual(line["stage"], "checkpoint")
    }))

  it.effect("redacts secret-looking fields, nested ones and message objects included", () =>
    Effect.gen(function*() {
      const [line] = yield* jsonLines(
        Effect.logInfo("calling the hub", { url: "https://hub", apiKey: "hf_secret1" }).pipe(
          Effect.annotateLogs({
            token: "hf_secret2",
            HF_TOKEN: "hf_secret3",
            request: { headers: { Authorization: "Bearer secret4" }, attempts: [{ password: "secret5" }] },
            tokens: 4096
          })
        )
      )
      const text = JSON.stringify(line)
      for (const secret of ["hf_secret1", "hf_secret2", "hf_secret3", "secret4", "secret5"]) {
        assert.notInclude(text, secret)
      }
      assert.strictEqual(line!["token"], "[redacted]")
      assert.strictEqual(line!["HF_TOKEN"], "[redacted]")
      assert.deepStrictEqual(line!["request"], { headers: { Authorization: "[redacted]" }, attempts: [{ password: "[redacted]" }] })
      assert.strictEqual(line!["msg"], "calling the hub {\"url\":\"https://hub\",\"apiKey\":\"[redacted]\"}")
      // A token count is a metric, not a secret.
      assert.strictEqual(line!["tokens"], 4096)
    }))

  it.effect("maps Effect levels to pino levels and honours the minimum level", () =>
    Effect.gen(function*() {
      const everyLevel = Effect.gen(function*() {
        yield* Effect.logTrace("trace")
        yield* Effect.logDebug("debug")
        yield* Effect.logInfo("info")
        yield* Effect.logWarning("warn")
        yield* Effect.logError("error")
        yield* Effect.logFatal("fatal")
      })
      const levels = (lines: ReadonlyArray<Record<string, unknown>>) => lines.map((line) => [line["msg"], line["level"]])
      assert.deepStrictEqual(levels(yield* jsonLines(everyLevel, { minimumLevel: "All" })), [
        ["trace", 10], ["debug", 20], ["info", 30], ["warn", 40], ["error", 50], ["fatal", 60]
      ])
      assert.deepStrictEqual(levels(yield* jsonLines(everyLevel)), [["info", 30], ["warn", 40], ["error", 50], ["fatal", 60]])
      assert.deepStrictEqual(levels(yield* jsonLines(everyLevel, { minimumLevel: "Error" })), [["error", 50], ["fatal", 60]])
      assert.deepStrictEqual(levels(yield* jsonLines(everyLevel, { minimumLevel: "None" })), [])
    }))

  it.effect("includes log spans, the cause, and renames annotations that clash with pino's fields", () =>
    Effect.gen(function*() {
      const [line] = yield* jsonLines(
        Effect.logError("stage failed", new Error("disk full")).pipe(
          Effect.annotateLogs({ level: "high", msg: "shadow" }),
          Effect.withLogSpan("train")
        )
      )
      assert.strictEqual(line!["level"], 50)
      assert.strictEqual(line!["msg"], "stage failed Error: disk full")
      assert.strictEqual(line!["annotation.level"], "high")
      assert.strictEqual(line!["annotation.msg"], "shadow")
      assert.deepStrictEqual(line!["spans"], { train: 0 })

      const [failed] = yield* jsonLines(Effect.logError("gave up").pipe(Effect.andThen(Effect.fail("boom")), Effect.ignore))
      assert.notProperty(failed!, "cause")
      const [withCause] = yield* jsonLines(Effect.fail(new Error("socket hang up")).pipe(
        Effect.tapCause((cause) => Effect.logError("request failed", cause)),
        Effect.ignore
      ))
      assert.include(String(withCause!["cause"]), "socket hang up")
    }))

  it.effect("writes human-readable lines when asked for pretty output", () =>
    Effect.gen(function*() {
      const { destination, text } = captureDestination()
      yield* Effect.logInfo("hello there").pipe(
        Effect.annotateLogs({ step: 3, secret: "s3cr3t" }),
        Effect.provide(pinoLoggerLayer({ destination, pretty: true }))
      )
      // pino-pretty hands its output on through a stream pipeline, a tick later.
      yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
      const output = text()
      assert.include(output, "INFO")
      assert.include(output, "hello there")
      assert.include(output, "step: 3")
      assert.notInclude(output, "s3cr3t")
      assert.throws(() => JSON.parse(output))
    }))
})
