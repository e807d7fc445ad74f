import { Cause, Effect, Exit, type Scope } from "effect"
import { messageOf } from "../ports/thrown-message.js"
import { type BackendUnavailableError, type InvalidRequestError, type Pending, type TrainingError } from "../ports/index.js"
import type { ErrorCategory, FutureHandle, FutureResult } from "./future-store.js"

/** The errors a backend call can end in; each maps to a protocol error category. */
export type BackendCallError = InvalidRequestError | TrainingError | BackendUnavailableError

/**
 * When the calls of one client ran. The clients of the ports run their calls one at a
 * time in submission order, so a call starts when it was submitted or when the one before it
 * finished, whichever is later: that splits its time into waiting and running.
 */
export interface Timeline {
  lastDoneAt: number
}

/** A new timeline. */
export const makeTimeline = (): Timeline => ({ lastDoneAt: 0 })

/** The protocol's failure for a backend error: the caller's fault (`user`) or the server's. */
export const failureOf = (error: BackendCallError): { readonly error: string; readonly category: ErrorCategory } => ({
  error: error.message,
  category: error._tag === "InvalidRequestError" ? "user" : "server"
})

/**
 * Submits a call now and settles `future` with its answer later, without waiting for it: a
 * model's forward/backward and optimizer step reach the backend back to back, as the
 * protocol's clock cycles reward. `finish` turns the call's value into the result (writing
 * a checkpoint, counting a step). The waiting fiber lives in `scope`; if the server closes
 * first, the future fails with a server error rather than hanging.
 */
export const submitFuture = <A, E extends BackendCallError>(options: {
  readonly future: FutureHandle
  readonly timeline: Timeline
  readonly arrivedAt: number
  readonly scope: Scope.Scope
  readonly submit: Effect.Effect<Pending<A, E>, E>
  readonly finish: (value: A) => Effect.Effect<FutureResult, BackendCallError>
}): Effect.Effect<void> => {
  const { future, timeline, arrivedAt } = options
  const settle = (exit: Exit.Exit<FutureResult, BackendCallError>, submittedAt: number) =>
    Effect.sync(() => {
      const doneAt = Date.now()
      const startedAt = Math.max(submittedAt, Math.min(timeline.lastDoneAt, doneAt))
      timeline.lastDoneAt = Math.max(timeline.lastDoneAt, doneAt)
      const timings = { queueMs: Math.max(0, startedAt - arrivedAt), computeMs: Math.max(0, doneAt - startedAt) }
      if (Exit.isSuccess(exit)) {
        future.complete({ _tag: "Done", result: exit.value, timings })
        return
      }
      const error = Cause.findErrorOption(exit.cause)
      future.complete(
        error._tag === "Some"
          ? { _tag: "Failed", ...failureOf(error.value), timings }
          : Cause.hasInterruptsOnly(exit.cause)
          ? { _tag: "Failed", error: "the server shut down before the request finished", category: "server", timings }
          : { _tag: "Failed", error: `internal server error: ${messageOf(Cause.squash(exit.cause))}`, category: "server", timings }
      )
    })
  return Effect.gen(function*() {
    const submittedAt = Date.now()
    const submitted = yield* Effect.exit(options.submit)
    if (Exit.isFailure(submitted)) return yield* settle(Exit.failCause(submitted.cause), submittedAt)
    yield* submitted.value.result.pipe(
      Effect.flatMap(options.finish),
      Effect.exit,
      Effect.flatMap((exit) => settle(exit, submittedAt)),
      Effect.onInterrupt(() => settle(Exit.interrupt(), submittedAt)),
      Effect.forkIn(options.scope)
    )
  })
}
