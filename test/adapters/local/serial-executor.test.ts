import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Scope } from "effect"
import { makeSerialExecutor } from "../../../src/adapters/local/serial-executor.js"

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
})
