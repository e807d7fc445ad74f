import { Cause, Clock, Duration, Effect, Exit } from "effect"
import { MetricsSink, type RunEvent } from "../ports/metrics-sink.js"
import { StageTimeoutError } from "./errors.js"
import type { StageNode } from "./ir.js"
import { loopIndices, publishStatus, type Frame, type RunState } from "./run-state.js"
import { makeStageAttempt } from "./stage-context.js"

/** How a stage run ended, as reported in its `stage.end` event. */
export type StageOutcome = "success" | "failure" | "interrupted"

const outcomeOf = (exit: Exit.Exit<unknown, unknown>): StageOutcome =>
  Exit.isSuccess(exit) ? "success" : Cause.hasInterruptsOnly(exit.cause) ? "interrupted" : "failure"

/**
 * Sends a run event. A sink that cannot write is logged, not raised: losing an event line
 * must not end an hours-long training run.
 */
const emit = (sink: MetricsSink["Service"], event: RunEvent): Effect.Effect<void> =>
  sink.event(event).pipe(
    Effect.catch((error) => Effect.logWarning(`could not record run event ${event.name}`, error))
  )

/**
 * Runs one stage node: a span, start and end events, per-attempt timeout and release,
 * retry, and the step counter. Call it when the stage is reached: it reads the step
 * counter then. Written as a plain generic function because `Effect.fn` does not keep the
 * type parameters of the stage's errors and services.
 */
export const runStageNode = <E, R>(
  node: StageNode<E, R>,
  frame: Frame,
  run: RunState
): Effect.Effect<void, E | StageTimeoutError, R | MetricsSink> => {
  const { stage } = node
  const step = run.step
  const loops = loopIndices(frame)
  const attributes: Record<string, unknown> = { step, position: frame.path.join(".") }
  for (const [name, index] of Object.entries(loops)) attributes[`loop.${name}`] = index

  let attempts = 0
  const { timeout } = node
  // One attempt: fresh context, release on failure or interruption (a timeout interrupts),
  // and writes kept only when the attempt succeeds.
  const attempt = Effect.suspend(() => {
    attempts += 1
    const { context, commit } = makeStageAttempt(stage, frame, run)
    const released = Effect.suspend(() => stage.run(context)).pipe(
      Effect.onError(() => stage.release === undefined ? Effect.void : stage.release(context))
    )
    const limited = timeout === undefined ? released : released.pipe(
      Effect.timeoutOrElse({
        duration: timeout,
        orElse: () => Effect.fail(new StageTimeoutError({ stage: stage.name, timeoutMs: Duration.toMillis(timeout) }))
      })
    )
    return Effect.andThen(limited, Effect.sync(commit))
  })
  const retried = node.retry === undefined
    ? attempt
    : attempt.pipe(Effect.retry({ schedule: node.retry.schedule, while: node.retry.isRetryable }))

  return Effect.gen(function*() {
    const sink = yield* MetricsSink
    yield* publishStatus(run, { phase: "running", stage: stage.name, position: frame.path, step, loops: frame.loops })
    yield* emit(sink, { name: "stage.start", step, data: { stage: stage.name } })
    const startedAt = yield* Clock.currentTimeMillis
    yield* retried.pipe(
      Effect.tap(() => Effect.sync(() => { if (stage.advancesStep === true) run.step += 1 })),
      Effect.onExit((exit) =>
        Effect.gen(function*() {
          const durationMs = (yield* Clock.currentTimeMillis) - startedAt
          const outcome = outcomeOf(exit)
          yield* emit(sink, { name: "stage.end", step, data: { stage: stage.name, durationMs, outcome, attempts } })
          yield* publishStatus(run, {
            phase: "running",
            stage: stage.name,
            position: frame.path,
            step: run.step,
            loops: frame.loops
          })
        })
      )
    )
  }).pipe(Effect.withSpan(`sous.stage.${stage.name}`, { attributes }))
}
