import type { Stage, StageContext } from "../stages/run/stage.js"
import type { StateKey } from "../stages/run/state-key.js"
import { MissingStateValueError, UndeclaredStateKeyError } from "./errors.js"
import { loopIndices, type Frame, type RunState } from "./run-state.js"

/** A stage's view of the run for one attempt, and the way to keep what it wrote. */
export interface StageAttempt {
  readonly context: StageContext
  /** Copies the attempt's writes into the run state; called only when the attempt succeeds. */
  readonly commit: () => void
}

/**
 * Builds the context for one attempt of `stage`. Writes are buffered until `commit`, so a
 * failed or interrupted attempt leaves no half-written state behind for a retry or a
 * finalizer to trip over. Using an undeclared key throws, which the runner turns into a
 * defect.
 */
export const makeStageAttempt = (
  stage: Pick<Stage<unknown, unknown>, "name" | "reads" | "writes">,
  frame: Frame,
  run: RunState
): StageAttempt => {
  const reads = new Set(stage.reads.map((key) => key.name))
  const writes = new Set(stage.writes.map((key) => key.name))
  const pending = new Map<string, unknown>()

  const get = <A>(key: StateKey<A>): A => {
    if (!reads.has(key.name)) {
      throw new UndeclaredStateKeyError({ stage: stage.name, key: key.name, access: "read" })
    }
    // A stage that both reads and writes a key sees its own write.
    const source = pending.has(key.name) ? pending : run.values
    if (!source.has(key.name)) throw new MissingStateValueError({ node: stage.name, key: key.name })
    return source.get(key.name) as A
  }

  const set = <A>(key: StateKey<A>, value: A): void => {
    if (!writes.has(key.name)) {
      throw new UndeclaredStateKeyError({ stage: stage.name, key: key.name, access: "write" })
    }
    pending.set(key.name, value)
  }

  return {
    context: { step: run.step, loops: loopIndices(frame), position: frame.path, get, set },
    commit: () => {
      for (const [name, value] of pending) run.values.set(name, value)
    }
  }
}
