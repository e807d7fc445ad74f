import { Effect, Layer } from "effect"
import { MetricsSink, type RunEvent } from "../../src/ports/metrics-sink.js"
import { defineStage, type Stage, type StageContext } from "../../src/stages/run/stage.js"
import type { StateKey } from "../../src/stages/run/state-key.js"

/** A MetricsSink that keeps every event, for assertions. */
export const recordingSink = () => {
  const events: Array<RunEvent> = []
  const layer = Layer.succeed(MetricsSink)({
    record: () => Effect.void,
    summarize: () => Effect.void,
    event: (event) => Effect.sync(() => { events.push(event) }),
    flush: Effect.void
  })
  return { events, layer }
}

/** Options of a test stage. */
export interface TraceOptions<E, R> {
  readonly reads?: ReadonlyArray<StateKey<any>>
  readonly writes?: ReadonlyArray<StateKey<any>>
  readonly advancesStep?: boolean
  readonly run?: (context: StageContext) => Effect.Effect<void, E, R>
  readonly release?: (context: StageContext) => Effect.Effect<void, never, R>
}

/** A stage that appends its name (and loop indices, if any) to `log` and then runs `run`. */
export const traceStage = <E = never, R = never>(
  log: Array<string>,
  name: string,
  options: TraceOptions<E, R> = {}
): Stage<E, R> =>
  defineStage<E, R>({
    name,
    description: `test stage ${name}`,
    reads: options.reads ?? [],
    writes: options.writes ?? [],
    ...(options.advancesStep === undefined ? {} : { advancesStep: options.advancesStep }),
    run: (context) =>
      Effect.suspend(() => {
        const loops = Object.values(context.loops)
        log.push(loops.length === 0 ? name : `${name}@${loops.join(".")}`)
        return options.run === undefined ? Effect.void : options.run(context)
      }),
    ...(options.release === undefined ? {} : { release: options.release })
  })
