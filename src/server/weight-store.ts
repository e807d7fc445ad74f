import * as fs from "node:fs/promises"
import { Deferred, Effect } from "effect"
import { messageOf } from "../ports/thrown-message.js"
import { InvalidRequestError, TrainingError } from "../ports/index.js"
import { replaceFile } from "../adapters/fs/durable-files.js"
import { checkpointFile, type CheckpointPath, formatCheckpointPath } from "./state-paths.js"

/** A checkpoint about to be written: its bytes come when the backend has saved them. */
export interface WeightReservation {
  /** Writes the bytes (atomically); refuses to replace a checkpoint unless `overwrite`. */
  readonly write: (bytes: Uint8Array, overwrite: boolean) => Effect.Effect<void, InvalidRequestError | TrainingError>
  /** Gives the reservation up without writing (the save failed). */
  readonly abandon: () => void
}

/** Saved weights as files under the server's state directory. */
export interface WeightStore {
  /**
   * Announces a write before the backend saves, so a load queued right behind the save
   * (the next seq_id, or a sampler made from it) waits for the file instead of missing it.
   */
  readonly reserve: (checkpoint: CheckpointPath) => WeightReservation
  /** The bytes of a checkpoint, once any write announced for it has finished. */
  readonly read: (checkpoint: CheckpointPath) => Effect.Effect<Uint8Array, InvalidRequestError | TrainingError>
  /** Whether a checkpoint is stored, once any write announced for it has finished. */
  readonly exists: (checkpoint: CheckpointPath) => Effect.Effect<boolean>
}

/** A store under `stateDir`. */
export const makeWeightStore = (stateDir: string): WeightStore => {
  // Per file, the writes announced and not finished, oldest first.
  const pending = new Map<string, Array<Deferred.Deferred<void>>>()

  const reserve = (checkpoint: CheckpointPath): WeightReservation => {
    const file = checkpointFile(stateDir, checkpoint)
    const done = Deferred.makeUnsafe<void>()
    // Saves of one file are written in the order they were announced (their seq_id order),
    // so the file ends with the last one's bytes however their results race.
    const before = pending.get(file) ?? []
    pending.set(file, [...before, done])
    const release = () => {
      Deferred.doneUnsafe(done, Effect.void)
      const rest = (pending.get(file) ?? []).filter((waiting) => waiting !== done)
      if (rest.length === 0) pending.delete(file)
      else pending.set(file, rest)
    }
    const write = (bytes: Uint8Array, overwrite: boolean) =>
      Effect.forEach(before, Deferred.await, { discard: true }).pipe(Effect.andThen(Effect.tryPromise({
        try: async () => {
          if (!overwrite && await fs.access(file).then(() => true, () => false)) return false
          await replaceFile(file, bytes)
          return true
        },
        catch: (error) =>
          new TrainingError({
            operation: "saveWeights",
            message: `could not write ${formatCheckpointPath(checkpoint)}: ${messageOf(error)}`,
            retryable: true,
            cause: error
          })
      }))).pipe(
        Effect.flatMap((written) =>
          written
            ? Effect.void
            : Effect.fail(new InvalidRequestError({
              operation: "saveWeights",
              message: `a checkpoint ${formatCheckpointPath(checkpoint)} already exists; save under another name or pass overwrite: true`
            }))
        ),
        Effect.ensuring(Effect.sync(release))
      )
    return { write, abandon: release }
  }

  // A save announced just before must finish first, or a read right behind it would miss it.
  const settled = (file: string) => Effect.forEach(pending.get(file) ?? [], Deferred.await, { discard: true })

  const read = (checkpoint: CheckpointPath) =>
    Effect.gen(function*() {
      const file = checkpointFile(stateDir, checkpoint)
      yield* settled(file)
      return yield* Effect.tryPromise({
        try: () => fs.readFile(file),
        catch: (error) =>
          (error as NodeJS.ErrnoException).code === "ENOENT"
            ? new InvalidRequestError({ operation: "loadWeights", message: `no checkpoint at ${formatCheckpointPath(checkpoint)}`, cause: error })
            : new TrainingError({
              operation: "loadWeights",
              message: `could not read ${formatCheckpointPath(checkpoint)}: ${messageOf(error)}`,
              retryable: true,
              cause: error
            })
      }).pipe(Effect.map((buffer) => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)))
    })

  const exists = (checkpoint: CheckpointPath) =>
    Effect.gen(function*() {
      const file = checkpointFile(stateDir, checkpoint)
      yield* settled(file)
      return yield* Effect.promise(() => fs.access(file).then(() => true, () => false))
    })

  return { reserve, read, exists }
}
