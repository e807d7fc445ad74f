import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Logger, type LogLevel } from "effect"
import { tolerantSink, type TrackerSink } from "../../../src/adapters/metrics/tolerant-sink.js"
import { MetricsError, MetricsSink } from "../../../src/ports/index.js"

interface LogLine {
  readonly level: LogLevel.LogLevel
  readonly message: unknown
}

// Runs `effect` with a logger that keeps every line.
const captureLogs = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<{ readonly exit: Exit.Exit<A, E>; readonly lines: ReadonlyArray<LogLine> }> =>
  Effect.suspend(() => {
    const lines: Array<LogLine> = []
    const capture = Logger.make(({ logLevel, message }) => {
      lines.push({ level: logLevel, message })
    })
    return effect.pipe(Effect.exit, Effect.provide(Logger.layer([capture])), Effect.map((exit) => ({ exit, lines })))
  })

/** A tracker that fails its `failAt`-th call (1-based) and every later one, counting calls. */
const flakyTracker = (failAt: number) => {
  const calls: Array<string> = []
  const closes: Array<Exit.Exit<unknown, unknown>> = []
  const call = (name: string) =>
    Effect.suspend(() => {
      calls.push(name)
      return calls.length >= failAt ? Effect.fail(new MetricsError({ message: "is unreachable (ECONNREFUSED)" })) : Effect.void
    })
  const tracker: TrackerSink = {
    sink: MetricsSink.of({
      record: () => call("record"),
      event: () => call("event"),
      summarize: () => call("summarize"),
      flush: call("flush")
    }),
    close: (exit) => Effect.sync(() => { closes.push(exit) })
  }
  return { tracker, calls, closes }
}

const label = "mlflow tracker at http://127.0.0.1:5000"

describe("tolerantSink", () => {
  it.effect("warns once at the first failure, then sends nothing more and never fails", () =>
    Effect.gen(function*() {
      const { calls, closes, tracker } = flakyTracker(2)
      const { exit, lines } = yield* captureLogs(Effect.scoped(Effect.gen(function*() {
        const sink = yield* tolerantSink(label, Effect.succeed(tracker))
        for (let step = 1; step <= 4; step++) yield* sink.record(step, { loss: 1 })
        yield* sink.event({ name: "eval", step: 4, data: { eval_nll: 1 } })
        yield* sink.summarize({})
        yield* sink.flush
      })))
      assert.isTrue(Exit.isSuccess(exit))
      assert.deepStrictEqual(calls, ["record", "record"])
      assert.deepStrictEqual(lines, [{ level: "Warn", message: [`${label} is unreachable (ECONNREFUSED); the run goes on without it`] }])
      // A tracker that failed is not closed: that would be one more call to it.
      assert.strictEqual(closes.length, 0)
    }))

  it.effect("turns a tracker that cannot start into a silent sink, with one warning", () =>
    Effect.gen(function*() {
      const { exit, lines } = yield* captureLogs(Effect.scoped(Effect.gen(function*() {
        const sink = yield* tolerantSink(label, Effect.fail(new MetricsError({ message: "answered 401 UNAUTHENTICATED to GET experiments/get-by-name: no" })))
        yield* sink.record(1, { loss: 1 })
        yield* sink.flush
      })))
      assert.isTrue(Exit.isSuccess(exit))
      assert.deepStrictEqual(lines.map((line) => line.message), [[`${label} answered 401 UNAUTHENTICATED to GET experiments/get-by-name: no; the run goes on without it`]])
    }))

  it.effect("quotes a defect in a tracker rather than letting it end the run", () =>
    Effect.gen(function*() {
      const broken: TrackerSink = { sink: MetricsSink.of({ record: () => Effect.die(new Error("boom")), event: () => Effect.void, summarize: () => Effect.void, flush: Effect.void }) }
      const { exit, lines } = yield* captureLogs(Effect.scoped(Effect.flatMap(tolerantSink(label, Effect.succeed(broken)), (sink) => sink.record(1, {}))))
      assert.isTrue(Exit.isSuccess(exit))
      assert.deepStrictEqual(lines.map((line) => line.message), [[`${label} failed: boom; the run goes on without it`]])
    }))

  it.effect("closes the tracker with how the run ended, seen through a layer as the kitchen builds it", () =>
    Effect.gen(function*() {
      const { closes, tracker } = flakyTracker(Infinity)
      const layer = Layer.effect(MetricsSink, tolerantSink(label, Effect.succeed(tracker)))
      const failure = new Error("the run failed")
      yield* Effect.exit(Effect.provide(Effect.andThen(Effect.service(MetricsSink), Effect.die(failure)), layer))
      yield* Effect.provide(Effect.service(MetricsSink), layer)
      assert.strictEqual(closes.length, 2)
      assert.isTrue(Exit.isFailure(closes[0]!) && !Exit.hasInterrupts(closes[0]!))
      assert.isTrue(Exit.isSuccess(closes[1]!))
    }))

  it.effect("lets an interruption through: the run is stopped, not the tracker", () =>
    Effect.gen(function*() {
      const closes: Array<Exit.Exit<unknown, unknown>> = []
      const hanging: TrackerSink = {
        sink: MetricsSink.of({ record: () => Effect.never, event: () => Effect.void, summarize: () => Effect.void, flush: Effect.void }),
        close: (exit) => Effect.sync(() => { closes.push(exit) })
      }
      const fiber = yield* Effect.forkChild(Effect.scoped(Effect.flatMap(tolerantSink(label, Effect.succeed(hanging)), (sink) => sink.record(1, {}))))
      yield* Effect.yieldNow
      const exit = yield* Fiber.interrupt(fiber).pipe(Effect.andThen(Fiber.await(fiber)))
      assert.isTrue(Exit.hasInterrupts(exit))
      assert.isTrue(closes.length === 1 && Exit.hasInterrupts(closes[0]!))
    }))
})
