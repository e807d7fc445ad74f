import { Deferred, Effect, Exit, Queue, Scope } from "effect"
import type { Pending } from "../../ports/index.js"

/**
 * Runs submitted tasks one at a time, in submission order, on one worker fiber. Submitting
 * returns a {@link Pending} at once: the two-phase calls of the training ports, where a loop
 * queues forward/backward and the optimizer step before it awaits either.
 */
export interface SerialExecutor {
  readonly submit: <A, E>(task: Effect.Effect<A, E>) => Effect.Effect<Pending<A, E>>
  /**
   * Runs `task` as a submitted one and answers its value, then runs nothing else until the
   * caller's scope closes: what the task answers (views of the client's memory) holds still
   * while the caller uses it.
   */
  readonly hold: <A, E>(task: Effect.Effect<A, E>) => Effect.Effect<A, E, Scope.Scope>
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
    const hold = <A, E>(task: Effect.Effect<A, E>): Effect.Effect<A, E, Scope.Scope> =>
      Effect.gen(function*() {
        const answered = yield* Deferred.make<A, E>()
        const released = yield* Deferred.make<void>()
        // Added before the task is queued: however the caller ends, even interrupted while
        // waiting, the worker is let go and runs the tasks queued after this one.
        yield* Effect.addFinalizer(() => Deferred.succeed(released, undefined))
        const pending = yield* submit(
          Effect.flatMap(Effect.exit(task), (exit) =>
            Effect.andThen(Deferred.done(answered, exit), Exit.isSuccess(exit) ? Deferred.await(released) : Effect.void))
        )
        // The job's own result settles only after the release, unless the executor closes first.
        return yield* Effect.raceFirst(Deferred.await(answered), Effect.andThen(pending.result, Effect.interrupt))
      })
    return { submit, hold }
  })
