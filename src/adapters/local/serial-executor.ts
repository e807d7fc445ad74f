import { Deferred, Effect, Queue, Scope } from "effect"
import type { Pending } from "../../ports/index.js"

/**
 * Runs submitted tasks one at a time, in submission order, on one worker fiber. Submitting
 * returns a {@link Pending} at once: the two-phase calls of the training ports, where a loop
 * queues forward/backward and the optimizer step before it awaits either.
 */
export interface SerialExecutor {
  readonly submit: <A, E>(task: Effect.Effect<A, E>) => Effect.Effect<Pending<A, E>>
}

/**
 * Starts an executor whose worker lives in `scope`. When the scope closes, the worker stops
 * and results still awaited end in interruption rather than hanging; so do the results of
 * tasks submitted after that.
 */
export const makeSerialExecutor = (scope: Scope.Scope): Effect.Effect<SerialExecutor> =>
  Effect.gen(function*() {
    const jobs = yield* Queue.unbounded<Effect.Effect<void>>()
    // How to interrupt each result not yet settled.
    const unfinished = new Set<Effect.Effect<boolean>>()
    let closed = false
    yield* Scope.addFinalizer(
      scope,
      Effect.suspend(() => {
        closed = true
        return Effect.forEach(unfinished, (interrupt) => interrupt, { discard: true })
      })
    )
    yield* Queue.take(jobs).pipe(Effect.flatten, Effect.forever, Effect.forkIn(scope))
    const submit = <A, E>(task: Effect.Effect<A, E>): Effect.Effect<Pending<A, E>> =>
      Effect.gen(function*() {
        if (closed) return { result: Effect.interrupt }
        const deferred = yield* Deferred.make<A, E>()
        const interrupt = Deferred.interrupt(deferred)
        unfinished.add(interrupt)
        const job = task.pipe(
          Deferred.into(deferred),
          Effect.ensuring(Effect.sync(() => unfinished.delete(interrupt)))
        )
        yield* Queue.offer(jobs, Effect.asVoid(job))
        return { result: Deferred.await(deferred) }
      })
    return { submit }
  })
