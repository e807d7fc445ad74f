import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Scope } from "effect"
import { makeSerialExecutor, type SerialExecutor } from "../../../src/adapters/local/serial-executor.js"

describe("serial executor", () => {
  it.effect("runs tasks in submission order, whatever order their results are awaited in", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const executor = yield* makeSerialExecutor(scope)
      const order: Array<number> = []
      const gate = yield* Deferred.make<void>()
      const first = yield* executor.submit(Effect.andThen(Deferred.await(gate), Effect.sync(() => order.push(1))))
      const second = yield* executor.submit(Effect.sync(() => order.push(2)))
      yield* Deferred.succeed(gate, undefined)
      yield* second.result
      yield* first.result
      assert.deepStrictEqual(order, [1, 2])
      yield* Scope.close(scope, Exit.void)
    }))

  it.effect("ends awaited and later results in interruption once its scope closes", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const executor = yield* makeSerialExecutor(scope)
      const stuck = yield* executor.submit(Effect.never)
      const queued = yield* executor.submit(Effect.succeed(1))
      yield* Scope.close(scope, Exit.void)
      const late = yield* executor.submit(Effect.succeed(2))
      for (const pending of [stuck, queued, late]) {
        const exit = yield* Effect.exit(pending.result)
        assert.isTrue(Exit.hasInterrupts(exit))
      }
    }))

  it.effect("hold answers its task's value and runs nothing queued after it until the caller's scope closes", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const executor = yield* makeSerialExecutor(scope)
      const order: Array<string> = []
      const caller = yield* Scope.make()
      const value = yield* executor.hold(Effect.sync(() => order.push("held"))).pipe(Scope.provide(caller))
      const after = yield* executor.submit(Effect.sync(() => order.push("after")))
      // Give the worker every chance to run the queued task while the hold lasts.
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow
      assert.deepStrictEqual(order, ["held"])
      assert.strictEqual(value, 1)
      yield* Scope.close(caller, Exit.void)
      yield* after.result
      assert.deepStrictEqual(order, ["held", "after"])
      yield* Scope.close(scope, Exit.void)
    }))

  it.effect("hold lets the executor go when its task fails or its caller is interrupted while waiting", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const executor = yield* makeSerialExecutor(scope)
      const failed = yield* Effect.flip(Effect.scoped(executor.hold(Effect.fail("no state"))))
      assert.strictEqual(failed, "no state")
      // A caller interrupted while a task ahead of its hold still runs.
      const gate = yield* Deferred.make<void>()
      const ahead = yield* executor.submit(Deferred.await(gate))
      const waiting = yield* Effect.forkChild(Effect.scoped(executor.hold(Effect.succeed("lent"))))
      yield* Effect.yieldNow
      yield* Fiber.interrupt(waiting)
      yield* Deferred.succeed(gate, undefined)
      yield* ahead.result
      assert.strictEqual(yield* awaitSubmitted(executor, 7), 7)
      yield* Scope.close(scope, Exit.void)
    }))
})

const awaitSubmitted = (executor: SerialExecutor, value: number) =>
  Effect.flatMap(executor.submit(Effect.succeed(value)), (pending) => pending.result)

