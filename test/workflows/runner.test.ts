import { assert, describe, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Fiber, Schedule, SubscriptionRef } from "effect"
import { TestClock } from "effect/testing"
import { TrainingError } from "../../src/ports/errors.js"
import type { MetricsSink } from "../../src/ports/metrics-sink.js"
import { stateKey } from "../../src/stages/run/state-key.js"
import {
  finally_,
  loop,
  pendingStatus,
  runWorkflow,
  sequence,
  stage,
  StageTimeoutError,
  UndeclaredStateKeyError,
  when,
  workflow,
  type WorkflowInvalidError,
  type WorkflowStatus
} from "../../src/workflows/index.js"
import { recordingSink, traceStage } from "./kit.js"

const transient = () => new TrainingError({ operation: "forwardBackward", message: "connection reset", retryable: true })
const fatal = () => new TrainingError({ operation: "forwardBackward", message: "bad datum", retryable: false })

describe("runWorkflow ordering", () => {
  it.effect("runs sequences in order, loops per iteration and `when` bodies when their test holds", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const wf = workflow({
        name: "order",
        root: sequence(
          stage(traceStage(log, "setup")),
          loop({
            name: "outer",
            times: 2,
            body: sequence(
              stage(traceStage(log, "body")),
              when({ label: "on the second pass", test: ({ loops }) => loops.outer === 1, body: stage(traceStage(log, "late")) })
            )
          }),
          stage(traceStage(log, "teardown"))
        )
      })
      yield* runWorkflow(wf).pipe(Effect.provide(recordingSink().layer))
      assert.deepStrictEqual(log, ["setup", "body@0", "body@1", "late@1", "teardown"])
    }))

  it.effect("reads a loop count from the state when the loop starts", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const epochs = stateKey<number>("epochs")
      const wf = workflow({
        name: "epochs",
        root: sequence(
          stage(traceStage(log, "plan", { writes: [epochs], run: (context) => Effect.sync(() => context.set(epochs, 3)) })),
          loop({ name: "epoch", times: { key: epochs, label: "recipe epochs" }, body: stage(traceStage(log, "train")) })
        )
      })
      yield* runWorkflow(wf).pipe(Effect.provide(recordingSink().layer))
      assert.deepStrictEqual(log, ["plan", "train@0", "train@1", "train@2"])
    }))

  it.effect("counts successful step-advancing stages and shows the count to stages and `when` tests", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const seen: Array<number> = []
      const optim = traceStage(log, "optim", { advancesStep: true, run: (context) => Effect.sync(() => { seen.push(context.step) }) })
      const wf = workflow({
        name: "steps",
        root: loop({
          name: "batches",
          times: 5,
          body: sequence(
            stage(optim),
            when({ label: "every 2 steps", test: ({ step }) => step % 2 === 0, body: stage(traceStage(log, "eval")) })
          )
        })
      })
      const result = yield* runWorkflow(wf).pipe(Effect.provide(recordingSink().layer))
      assert.strictEqual(result.step, 5)
      assert.deepStrictEqual(seen, [0, 1, 2, 3, 4])
      assert.deepStrictEqual(log.filter((line) => line.startsWith("eval")), ["eval@1", "eval@3"])
    }))

  it.effect("returns the final state by key name, starting from the initial state", () =>
    Effect.gen(function*() {
      const total = stateKey<number>("total")
      const add = traceStage([], "add", {
        reads: [total],
        writes: [total],
        run: (context) => Effect.sync(() => context.set(total, context.get(total) + 10))
      })
      const wf = workflow({ name: "sum", initial: [total], root: loop({ name: "n", times: 3, body: stage(add) }) })
      const result = yield* runWorkflow(wf, { initialState: { total: 1 } }).pipe(Effect.provide(recordingSink().layer))
      assert.deepStrictEqual(result.state, { total: 31 })
    }))
})

describe("runWorkflow stage options", () => {
  it.effect("retries a retryable error: two failures then success is three runs", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      let runs = 0
      const flaky = traceStage(log, "flaky", {
        run: () => Effect.suspend(() => (++runs <= 2 ? Effect.fail(transient()) : Effect.void))
      })
      const sink = recordingSink()
      const wf = workflow({ name: "retry", root: stage(flaky, { retry: { schedule: Schedule.recurs(5) } }) })
      yield* runWorkflow(wf).pipe(Effect.provide(sink.layer))
      assert.strictEqual(runs, 3)
      const end = sink.events.find((event) => event.name === "stage.end")
      assert.strictEqual(end?.data?.outcome, "success")
      assert.strictEqual(end?.data?.attempts, 3)
    }))

  it.effect("does not retry a non-retryable error", () =>
    Effect.gen(function*() {
      let runs = 0
      const broken = traceStage([], "broken", { run: () => Effect.suspend(() => { runs++; return Effect.fail(fatal()) }) })
      const wf = workflow({ name: "no-retry", root: stage(broken, { retry: { schedule: Schedule.recurs(5) } }) })
      const error = yield* runWorkflow(wf).pipe(Effect.provide(recordingSink().layer), Effect.flip)
      assert.strictEqual(runs, 1)
      assert.instanceOf(error, TrainingError)
    }))

  it.effect("retries only the error tags it is given", () =>
    Effect.gen(function*() {
      let runs = 0
      // retryable: false, but its tag is listed, so the list decides.
      const broken = traceStage([], "broken", { run: () => Effect.suspend(() => (++runs < 2 ? Effect.fail(fatal()) : Effect.void)) })
      const wf = workflow({
        name: "tags",
        root: stage(broken, { retry: { schedule: Schedule.recurs(5), retryOn: ["TrainingError"] } })
      })
      yield* runWorkflow(wf).pipe(Effect.provide(recordingSink().layer))
      assert.strictEqual(runs, 2)
    }))

  it.effect("turns a timeout into StageTimeoutError naming the stage, and releases the attempt", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const slow = traceStage(log, "slow", {
        run: () => Effect.sleep("1 minute"),
        release: () => Effect.sync(() => { log.push("release") })
      })
      const wf = workflow({ name: "timeout", root: stage(slow, { timeout: "1 second" }) })
      const fiber = yield* runWorkflow(wf).pipe(Effect.provide(recordingSink().layer), Effect.flip, Effect.forkChild)
      yield* TestClock.adjust("2 seconds")
      const error = yield* Fiber.join(fiber)
      assert.instanceOf(error, StageTimeoutError)
      assert.strictEqual((error as StageTimeoutError).stage, "slow")
      assert.strictEqual((error as StageTimeoutError).timeoutMs, 1000)
      assert.deepStrictEqual(log, ["slow", "release"])
    }))

  it.effect("runs release on failure but not on success", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const release = (name: string) => () => Effect.sync(() => { log.push(`release ${name}`) })
      const fine = traceStage(log, "fine", { release: release("fine") })
      const broken = traceStage(log, "broken", { run: () => Effect.fail(fatal()), release: release("broken") })
      const wf = workflow({ name: "release", root: sequence(stage(fine), stage(broken)) })
      const exit = yield* runWorkflow(wf).pipe(Effect.provide(recordingSink().layer), Effect.exit)
      assert.isTrue(Exit.isFailure(exit))
      assert.deepStrictEqual(log, ["fine", "broken", "release broken"])
    }))

  it.effect("runs release when the run is interrupted and reports the stage as interrupted", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const started = yield* Deferred.make<void>()
      const hang = traceStage(log, "hang", {
        run: () => Deferred.succeed(started, undefined).pipe(Effect.andThen(Effect.never)),
        release: () => Effect.sync(() => { log.push("release") })
      })
      const sink = recordingSink()
      const fiber = yield* runWorkflow(workflow({ name: "cancel", root: stage(hang) })).pipe(
        Effect.provide(sink.layer),
        Effect.forkChild
      )
      yield* Deferred.await(started)
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(log, ["hang", "release"])
      const end = sink.events.find((event) => event.name === "stage.end")
      assert.strictEqual(end?.data?.outcome, "interrupted")
    }))

  it.effect("keeps no writes from a failed attempt", () =>
    Effect.gen(function*() {
      const scratch = stateKey<string>("scratch")
      let runs = 0
      const flaky = traceStage([], "flaky", {
        writes: [scratch],
        run: (context) =>
          Effect.suspend(() => {
            runs++
            if (runs > 1) return Effect.void
            context.set(scratch, "half-written")
            return Effect.fail(transient())
          })
      })
      const wf = workflow({ name: "atomic", root: stage(flaky, { retry: { schedule: Schedule.recurs(1) } }) })
      const result = yield* runWorkflow(wf).pipe(Effect.provide(recordingSink().layer))
      assert.strictEqual(runs, 2)
      assert.isFalse("scratch" in result.state)
    }))
})

describe("runWorkflow finally_", () => {
  it.effect("runs the finalizer after a failing body and keeps the body's error", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const wf = workflow({
        name: "finally",
        root: finally_(
          sequence(stage(traceStage(log, "work", { run: () => Effect.fail(fatal()) })), stage(traceStage(log, "never"))),
          stage(traceStage(log, "cleanup"))
        )
      })
      const error = yield* runWorkflow(wf).pipe(Effect.provide(recordingSink().layer), Effect.flip)
      assert.instanceOf(error, TrainingError)
      assert.deepStrictEqual(log, ["work", "cleanup"])
    }))

  it.effect("runs the finalizer when the body is interrupted", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const started = yield* Deferred.make<void>()
      const hang = traceStage(log, "hang", { run: () => Deferred.succeed(started, undefined).pipe(Effect.andThen(Effect.never)) })
      const wf = workflow({ name: "cancel", root: finally_(stage(hang), stage(traceStage(log, "final checkpoint"))) })
      const fiber = yield* runWorkflow(wf).pipe(Effect.provide(recordingSink().layer), Effect.forkChild)
      yield* Deferred.await(started)
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(log, ["hang", "final checkpoint"])
    }))

  it.effect("runs the finalizer after a successful body", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const wf = workflow({
        name: "finally",
        root: finally_(stage(traceStage(log, "work")), stage(traceStage(log, "cleanup")))
      })
      yield* runWorkflow(wf).pipe(Effect.provide(recordingSink().layer))
      assert.deepStrictEqual(log, ["work", "cleanup"])
    }))
})

describe("runWorkflow cursor", () => {
  const build = (log: Array<string>, positions: Array<ReadonlyArray<number>> = []) =>
    workflow({
      name: "resume",
      root: sequence(
        stage(traceStage(log, "before")),
        loop({
          name: "epoch",
          times: 5,
          body: sequence(
            stage(traceStage(log, "a", { advancesStep: true, run: (context) => Effect.sync(() => { positions.push(context.position) }) })),
            stage(traceStage(log, "b"))
          )
        }),
        stage(traceStage(log, "after"))
      )
    })

  it.effect("starts a loop at the cursor's iteration and skips everything before it", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const positions: Array<ReadonlyArray<number>> = []
      const result = yield* runWorkflow(build(log, positions), { cursor: { position: [1, 3], step: 30, state: {} } }).pipe(
        Effect.provide(recordingSink().layer)
      )
      assert.deepStrictEqual(log, ["a@3", "b@3", "a@4", "b@4", "after"])
      assert.deepStrictEqual(positions, [[1, 3, 0], [1, 4, 0]])
      assert.strictEqual(result.step, 32)
    }))

  it.effect("resumes after the stage a cursor names", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      yield* runWorkflow(build(log), { cursor: { position: [1, 3, 0], resume: "after", step: 4, state: {} } }).pipe(
        Effect.provide(recordingSink().layer)
      )
      assert.deepStrictEqual(log, ["b@3", "a@4", "b@4", "after"])
    }))

  it.effect("restores the state and enters a `when` on the cursor's path without re-testing it", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const weights = stateKey<string>("weights")
      const seen: Array<string> = []
      const wf = workflow({
        name: "restore",
        root: sequence(
          stage(traceStage(log, "init", { writes: [weights], run: (context) => Effect.sync(() => context.set(weights, "fresh")) })),
          when({
            label: "never on a fresh run",
            test: () => false,
            body: stage(traceStage(log, "use", { reads: [weights], run: (context) => Effect.sync(() => { seen.push(context.get(weights)) }) }))
          })
        )
      })
      yield* runWorkflow(wf, { cursor: { position: [1, 0], step: 0, state: { weights: "restored" } } }).pipe(
        Effect.provide(recordingSink().layer)
      )
      assert.deepStrictEqual(log, ["use"])
      assert.deepStrictEqual(seen, ["restored"])
    }))

  it.effect("starts inside a finalizer without running the body", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const wf = workflow({ name: "final", root: finally_(stage(traceStage(log, "work")), stage(traceStage(log, "cleanup"))) })
      yield* runWorkflow(wf, { cursor: { position: [1], step: 0, state: {} } }).pipe(Effect.provide(recordingSink().layer))
      assert.deepStrictEqual(log, ["cleanup"])
    }))

  it.effect("refuses a cursor that does not point into the tree", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const error = yield* runWorkflow(build(log), { cursor: { position: [1, 7], step: 0, state: {} } }).pipe(
        Effect.provide(recordingSink().layer),
        Effect.flip
      )
      assert.strictEqual(error._tag, "WorkflowInvalidError")
      assert.deepStrictEqual((error as WorkflowInvalidError).problems.map((problem) => problem.kind), ["invalid-cursor"])
      assert.deepStrictEqual(log, [])
    }))
})

describe("runWorkflow state access", () => {
  it.effect("treats get of an undeclared key as a defect", () =>
    Effect.gen(function*() {
      const secret = stateKey<number>("secret")
      const sneaky = traceStage([], "sneaky", { run: (context) => Effect.sync(() => { context.get(secret) }) })
      const exit = yield* runWorkflow(workflow({ name: "get", root: stage(sneaky) })).pipe(
        Effect.provide(recordingSink().layer),
        Effect.exit
      )
      assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
      const defect = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
      assert.instanceOf(defect, UndeclaredStateKeyError)
      assert.strictEqual((defect as UndeclaredStateKeyError).access, "read")
      assert.strictEqual((defect as UndeclaredStateKeyError).key, "secret")
    }))

  it.effect("treats set of an undeclared key as a defect, even outside the stage's effect", () =>
    Effect.gen(function*() {
      const secret = stateKey<number>("secret")
      const sneaky = traceStage([], "sneaky", {
        run: (context) => {
          context.set(secret, 1)
          return Effect.void
        }
      })
      const exit = yield* runWorkflow(workflow({ name: "set", root: stage(sneaky) })).pipe(
        Effect.provide(recordingSink().layer),
        Effect.exit
      )
      const defect = Exit.isFailure(exit) && Cause.hasDies(exit.cause) ? Cause.squash(exit.cause) : undefined
      assert.instanceOf(defect, UndeclaredStateKeyError)
      assert.strictEqual((defect as UndeclaredStateKeyError).access, "write")
    }))
})

describe("runWorkflow telemetry", () => {
  it.effect("emits start and end events with the step, duration and outcome", () =>
    Effect.gen(function*() {
      const wf = workflow({
        name: "events",
        root: sequence(
          stage(traceStage([], "optim", { advancesStep: true, run: () => Effect.sleep("5 seconds") })),
          stage(traceStage([], "fail", { run: () => Effect.fail(fatal()) }))
        )
      })
      const sink = recordingSink()
      const fiber = yield* runWorkflow(wf).pipe(Effect.provide(sink.layer), Effect.exit, Effect.forkChild)
      yield* TestClock.adjust("5 seconds")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(sink.events, [
        { name: "stage.start", step: 0, data: { stage: "optim" } },
        { name: "stage.end", step: 0, data: { stage: "optim", durationMs: 5000, outcome: "success", attempts: 1 } },
        { name: "stage.start", step: 1, data: { stage: "fail" } },
        { name: "stage.end", step: 1, data: { stage: "fail", durationMs: 0, outcome: "failure", attempts: 1 } }
      ])
    }))

  it.effect("wraps each stage run in a sous.stage.<name> span with the step and loop indices", () =>
    Effect.gen(function*() {
      const spans: Array<{ name: string; attributes: Record<string, unknown> }> = []
      const traced = traceStage([], "traced", {
        advancesStep: true,
        run: () =>
          Effect.currentSpan.pipe(
            Effect.map((span) => { spans.push({ name: span.name, attributes: Object.fromEntries(span.attributes) }) }),
            Effect.orDie
          )
      })
      const wf = workflow({ name: "spans", root: loop({ name: "epoch", times: 2, body: stage(traced) }) })
      yield* runWorkflow(wf).pipe(Effect.provide(recordingSink().layer))
      assert.deepStrictEqual(spans, [
        { name: "sous.stage.traced", attributes: { step: 0, position: "0", "loop.epoch": 0 } },
        { name: "sous.stage.traced", attributes: { step: 1, position: "1", "loop.epoch": 1 } }
      ])
    }))

  it.effect("publishes the running stage, step and loops, then the final phase", () =>
    Effect.gen(function*() {
      const status = yield* SubscriptionRef.make(pendingStatus)
      const seen: Array<WorkflowStatus> = []
      const watch = traceStage<never, never>([], "watch", {
        advancesStep: true,
        run: () => SubscriptionRef.get(status).pipe(Effect.map((current) => { seen.push(current) }))
      })
      const wf = workflow({ name: "status", root: loop({ name: "epoch", times: 2, body: stage(watch) }) })
      yield* runWorkflow(wf, { status }).pipe(Effect.provide(recordingSink().layer))
      assert.deepStrictEqual(seen, [
        { phase: "running", stage: "watch", position: [0], step: 0, loops: [{ name: "epoch", index: 0, times: 2 }] },
        { phase: "running", stage: "watch", position: [1], step: 1, loops: [{ name: "epoch", index: 1, times: 2 }] }
      ])
      const final = yield* SubscriptionRef.get(status)
      assert.strictEqual(final.phase, "succeeded")
      assert.strictEqual(final.step, 2)
    }))
})

describe("runWorkflow types", () => {
  it("carries the stages' errors and services into the run's type", () => {
    const wf = workflow({
      name: "types",
      root: sequence(stage(traceStage([], "a", { run: () => Effect.fail(fatal()) })))
    })
    const run: Effect.Effect<unknown, TrainingError | StageTimeoutError | WorkflowInvalidError, MetricsSink> = runWorkflow(wf)
    // @ts-expect-error the stage's TrainingError must be part of the run's error type
    const narrowed: Effect.Effect<unknown, StageTimeoutError | WorkflowInvalidError, MetricsSink> = runWorkflow(wf)
    assert.isDefined(run)
    assert.isDefined(narrowed)
  })
})
