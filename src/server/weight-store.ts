import * as fs from "node:fs/promises"
import { Deferred, Effect } from "effect"
import { messageOf } from "../ports/thrown-message.js"
import { InvalidRequestError, TrainingError } from "../ports/index.js"
import { replaceFile } from "../adapters/fs/durable-files.js"
import { makeCheckpointTtl } from "./checkpoint-ttl.js"
import { checkpointFile, type CheckpointPath, formatCheckpointPath } from "./state-paths.js"

/** A checkpoint about to be written: its bytes come when the backend has saved them. */
export interface WeightReservation {
  /**
   * Writes the bytes (atomically); refuses to replace a checkpoint unless `overwrite`. With
   * `ttlMs` the checkpoint is deleted that long after (the protocol's `ttl_seconds`); without,
   * it is kept (and a time to live it had is cleared).
   */
  readonly write: (bytes: Uint8Array, overwrite: boolean, ttlMs?: number) => Effect.Effect<void, InvalidRequestError | TrainingError>
  /** Gives the reservation up without writing (the save failed). */
  readonly abandon: () => void
}

/**
 * Saved weights as files under the server's state directory, each key's apart: `owner` (a
 * key's name) says whose checkpoints a call sees.
 */
export interface WeightStore {
  /**
   * Announces a write before the backend saves, so a load queued right behind the save
   * (the next seq_id, or a sampler made from it) waits for the file instead of missing it.
   */
  readonly reserve: (owner: string, checkpoint: CheckpointPath) => WeightReservation
  /** The bytes of a checkpoint, once any write announced for it has finished. */
  readonly read: (owner: string, checkpoint: CheckpointPath) => Effect.Effect<Uint8Array, InvalidRequestError | TrainingError>
  /** Whether a checkpoint is stored, once any write announced for it has finished. */
  readonly exists: (owner: string, checkpoint: CheckpointPath) => Effect.Effect<boolean>
  /** Deletes the checkpoints whose time to live has run out at `now` (none being written). */
  readonly sweep: (now: number) => Effect.Effect<void>
  /** When a checkpoint is to be deleted (ms since the epoch); undefined: never. */
  readonly expiresAt: (owner: string, checkpoint: CheckpointPath) => Effect.Effect<number | undefined>
  /** Sets (or, with undefined, clears) when a stored checkpoint is deleted: the REST API's `PUT …/ttl`. */
  readonly setExpiry: (owner: string, checkpoint: CheckpointPath, expiresAt: number | undefined) => Effect.Effect<void>
  /** Deletes a checkpoint and its time to live, once any write announced for it has finished; false if there was none. */
  readonly remove: (owner: string, checkpoint: CheckpointPath) => Effect.Effect<boolean>
}

/** A store under `stateDir`. */
export const makeWeightStore = (stateDir: string): WeightStore => {
  // Per file, the writes announced and not finished, oldest first.
  const pending = new Map<string, Array<Deferred.Deferred<void>>>()
  const ttl = makeCheckpointTtl(stateDir)

  const reserve = (owner: string, checkpoint: CheckpointPath): WeightReservation => {
    const file = checkpointFile(stateDir, owner, checkpoint)
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
    const write = (bytes: Uint8Array, overwrite: boolean, ttlMs?: number) =>
      Effect.forEach(before, Deferred.await, { discard: true }).pipe(Effect.andThen(Effect.tryPromise({
        try: async () => {
          if (!overwrite && await fs.access(file).then(() => true, () => false)) return false
          await replaceFile(file, bytes)
          await ttl.set(file, ttlMs === undefined ? undefined : Date.now() + ttlMs)
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

  const read = (owner: string, checkpoint: CheckpointPath) =>
    Effect.gen(function*() {
      const file = checkpointFile(stateDir, owner, checkpoint)
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

  const exists = (owner: string, checkpoint: CheckpointPath) =>
    Effect.gen(function*() {
      const file = checkpointFile(stateDir, owner, checkpoint)
      yield* settled(file)
      return yield* Effect.promise(() => fs.access(file).then(() => true, () => false))
    })

  const sweep = (now: number) => Effect.promise(() => ttl.sweep(now, (file) => pending.has(file)))

  const expiresAt = (owner: string, checkpoint: CheckpointPath) =>
    Effect.promise(() => ttl.expiresAt(checkpointFile(stateDir, owner, checkpoint)))

  const setExpiry = (owner: string, checkpoint: CheckpointPath, at: number | undefined) =>
    Effect.promise(() => ttl.set(checkpointFile(stateDir, owner, checkpoint), at))

  const remove = (owner: string, checkpoint: CheckpointPath) =>
    Effect.flatMap(exists(owner, checkpoint), (stored) => {
      const file = checkpointFile(stateDir, owner, checkpoint)
      return stored
        ? Effect.promise(async () => {
          await ttl.set(file, undefined)
          await fs.rm(file, { force: true })
          return true
        })
        : Effect.succeed(false)
    })

  return { reserve, read, exists, sweep, expiresAt, setExpiry, remove }
}
