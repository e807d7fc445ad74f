/**
 * The segment processes a worker keeps between segments. Starting one costs seconds (loading
 * TensorFlow.js, restoring the checkpoint, rendering the data); a process that committed a
 * checkpoint already holds that state in memory, so the run's next segment, which starts from
 * that checkpoint, continues there instead. A kept process is used only while its checkpoint
 * is still the newest committed one: after another attempt committed, it is stopped.
 */
import { Context, Effect, Layer } from "effect"
import type { SegmentProcess } from "./spawn-segment.js"

/** A process waiting after `checkpoint`, as the pool keeps it. */
export interface KeptSegment {
  readonly process: SegmentProcess
  readonly attemptId: string
  readonly checkpoint: string
}

/**
 * The kept processes, one per run directory at most. Without a pool, a segment's process
 * ends at its checkpoint and the next segment starts a new one.
 */
export class SegmentPool extends Context.Service<SegmentPool, {
  /** Keeps `kept` for the next segment of `runDir` (stopping one kept before it). */
  readonly keep: (runDir: string, kept: KeptSegment) => Effect.Effect<void>
  /** Takes the process kept for `runDir` out of the pool, if any is and it has not exited. */
  readonly take: (runDir: string) => Effect.Effect<KeptSegment | undefined>
  /** Stops the process kept for `runDir`, if any (a run paused, cancelled or ended). */
  readonly release: (runDir: string) => Effect.Effect<void>
}>()("sous/SegmentPool") {
  /** A pool whose kept processes are stopped when its scope closes. */
  static readonly layer = Layer.effect(
    SegmentPool,
    Effect.gen(function*() {
      const kept = new Map<string, KeptSegment>()
      const take = (runDir: string) =>
        Effect.sync(() => {
          const found = kept.get(runDir)
          kept.delete(runDir)
          return found
        })
      const release = (runDir: string) =>
        Effect.flatMap(take(runDir), (found) => (found === undefined ? Effect.void : Effect.asVoid(found.process.stop)))
      yield* Effect.addFinalizer(() => Effect.forEach([...kept.keys()], release, { discard: true }))
      return SegmentPool.of({
        keep: (runDir, segment) => Effect.andThen(release(runDir), Effect.sync(() => kept.set(runDir, segment))),
        take: (runDir) => Effect.map(take(runDir), (found) => (found?.process.exited() === false ? found : undefined)),
        release
      })
    })
  )
}
