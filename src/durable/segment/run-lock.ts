/**
 * A lock on a run directory's own files, held while an adoption rewrites them. Adoption reads
 * `metrics.jsonl`, appends to what it read and replaces the file; two adoptions at once (an
 * attempt of a segment and the orchestrator of another that overlaps it) must not both start
 * from the same old content. No library of ours offers a cross-process file lock, and a lock
 * file made with `O_EXCL` is all this needs: adoptions hold it for milliseconds.
 */
import { open, rm, stat } from "node:fs/promises"
import { join } from "node:path"
import { Effect, Schedule } from "effect"
import { messageOf } from "../../ports/thrown-message.js"
import { AdoptionError } from "./segment-errors.js"

const lockName = "adopt.lock"
// A holder that has kept the lock this long died holding it: adoption takes milliseconds.
const staleAfterMillis = 60_000
const waitAtMostMillis = 30_000

const failure = (runDir: string, what: string) => (cause: unknown) =>
  new AdoptionError({ runDir, message: `${what}: ${messageOf(cause)}`, cause })

/** Takes the lock if it is free (or stale, which it removes first); true when taken. */
const tryLock = (runDir: string) =>
  Effect.tryPromise({
    try: async () => {
      const file = join(runDir, lockName)
      try {
        const handle = await open(file, "wx")
        await handle.writeFile(`${process.pid}\n`).finally(() => handle.close())
        return true
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
        const held = await stat(file).catch(() => undefined)
        if (held !== undefined && Date.now() - held.mtimeMs > staleAfterMillis) await rm(file, { force: true })
        return false
      }
    },
    catch: failure(runDir, `cannot lock ${join(runDir, lockName)}`)
  })

const acquire = (runDir: string) =>
  tryLock(runDir).pipe(
    Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (taken) => taken }),
    Effect.timeoutOrElse({
      duration: waitAtMostMillis,
      orElse: () => Effect.fail(new AdoptionError({ runDir, message: `${join(runDir, lockName)} stayed locked for ${waitAtMostMillis / 1000} s` }))
    })
  )

/** Runs `effect` holding the lock on `runDir`'s files, waiting for it if another process holds it. */
export const withRunLock = <A, E, R>(runDir: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | AdoptionError, R> =>
  Effect.acquireUseRelease(
    acquire(runDir),
    () => effect,
    () => Effect.promise(() => rm(join(runDir, lockName), { force: true }))
  )
