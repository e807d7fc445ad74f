/**
 * A lock on a run directory's own files, held while an adoption rewrites them. Adoption reads
 * `metrics.jsonl`, appends to what it read and replaces the file; two adoptions at once (an
 * attempt of a segment and the orchestrator of another that overlaps it) must not both start
 * from the same old content. Adoptions hold it for milliseconds, so a lock held longer than
 * any adoption takes belongs to a dead holder (see `lock-file.ts` for a dead one on this host).
 */
import { randomUUID } from "node:crypto"
import { join } from "node:path"
import { Effect, Schedule } from "effect"
import { messageOf } from "../../ports/thrown-message.js"
import { releaseLockFile, tryLockFile } from "../lock-file.js"
import { AdoptionError } from "./segment-errors.js"

const lockName = "adopt.lock"
// A lock this old belongs to a dead holder on another host: an adoption takes milliseconds.
const staleAfterMillis = 15_000
// Longer than `staleAfterMillis`, so a waiter always outlives a dead holder's lock.
const waitAtMostMillis = 60_000

/** Takes the lock if it is free (or its holder is dead); true when taken. */
const tryLock = (runDir: string, token: string) =>
  Effect.tryPromise({
    try: async () => (await tryLockFile(join(runDir, lockName), token, staleAfterMillis)) === true,
    catch: (cause) => new AdoptionError({ runDir, message: `cannot lock ${join(runDir, lockName)}: ${messageOf(cause)}`, cause })
  })

const acquire = (runDir: string, token: string) =>
  tryLock(runDir, token).pipe(
    Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (taken) => taken }),
    Effect.timeoutOrElse({
      duration: waitAtMostMillis,
      orElse: () =>
        Effect.fail(new AdoptionError({ runDir, message: `${join(runDir, lockName)} stayed locked for ${waitAtMostMillis / 1000} s` }))
    })
  )

/** Removes the lock if it is still ours (a waiter may have taken it for dead and broken it). */
const release = (runDir: string, token: string) => Effect.promise(() => releaseLockFile(join(runDir, lockName), token))

/**
 * Runs `effect` holding the lock on `runDir`'s files, waiting for it if another process holds
 * it. The wait can be interrupted; the release runs whatever happens and, since it removes
 * only a lock with this call's token, also after a wait that never took it.
 */
export const withRunLock = <A, E, R>(runDir: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | AdoptionError, R> =>
  Effect.suspend(() => {
    const token = randomUUID()
    return Effect.andThen(acquire(runDir, token), effect).pipe(Effect.ensuring(release(runDir, token)))
  })
