/**
 * A lock on a run directory's own files, held while an adoption rewrites them. Adoption reads
 * `metrics.jsonl`, appends to what it read and replaces the file; two adoptions at once (an
 * attempt of a segment and the orchestrator of another that overlaps it) must not both start
 * from the same old content. No library of ours offers a cross-process file lock, and a lock
 * file made with `O_EXCL` is all this needs: adoptions hold it for milliseconds.
 *
 * A holder can die holding it (a SIGKILLed worker, a dead machine). The lock file names its
 * holder (host, pid and a token of its own): a holder on this host whose process is gone is
 * dead at once; one elsewhere is taken for dead once the lock is older than any adoption.
 */
import { randomUUID } from "node:crypto"
import { link, open, readFile, rename, rm, stat } from "node:fs/promises"
import { hostname } from "node:os"
import { join } from "node:path"
import { Effect, Schedule } from "effect"
import { messageOf } from "../../ports/thrown-message.js"
import { AdoptionError } from "./segment-errors.js"

const lockName = "adopt.lock"
// A lock this old belongs to a dead holder on another host: an adoption takes milliseconds.
const staleAfterMillis = 15_000
// Longer than `staleAfterMillis`, so a waiter always outlives a dead holder's lock.
const waitAtMostMillis = 60_000

const failure = (runDir: string, what: string) => (cause: unknown) =>
  new AdoptionError({ runDir, message: `${what}: ${messageOf(cause)}`, cause })

interface Holder {
  readonly host: string
  readonly pid: number
  readonly token: string
}

const parseHolder = (text: string): Holder | undefined => {
  try {
    const holder = JSON.parse(text) as Partial<Holder>
    return typeof holder.host === "string" && typeof holder.pid === "number" && typeof holder.token === "string"
      ? { host: holder.host, pid: holder.pid, token: holder.token }
      : undefined
  } catch {
    return undefined
  }
}

const processIsGone = (pid: number) => {
  try {
    process.kill(pid, 0)
    return false
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH"
  }
}

/** The holder of the lock at `file` when it is dead, or undefined while it may be alive. */
const deadHolder = async (file: string): Promise<Holder | "unnamed" | undefined> => {
  const [held, text] = await Promise.all([stat(file).catch(() => undefined), readFile(file, "utf8").catch(() => undefined)])
  if (held === undefined || text === undefined) return undefined
  const holder = parseHolder(text)
  const old = Date.now() - held.mtimeMs > staleAfterMillis
  if (holder === undefined) return old ? "unnamed" : undefined // a holder between create and write
  return (holder.host === hostname() && processIsGone(holder.pid)) || old ? holder : undefined
}

/**
 * Removes a dead holder's lock. Two waiters may find the same dead lock: each first moves it
 * aside under a name of its own, then checks it moved the lock it judged; one that moved a
 * fresh lock (another waiter broke the dead one and took the lock in between) puts it back.
 */
const breakLock = async (file: string, judged: Holder | "unnamed") => {
  const aside = `${file}.${randomUUID()}`
  try {
    await rename(file, aside)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return
    throw error
  }
  const moved = parseHolder(await readFile(aside, "utf8").catch(() => ""))
  if (moved !== undefined && (judged === "unnamed" || moved.token !== judged.token)) {
    await link(aside, file).catch(() => undefined)
  }
  await rm(aside, { force: true })
}

/** Takes the lock if it is free (or its holder is dead); true when taken. */
const tryLock = (runDir: string, token: string) =>
  Effect.tryPromise({
    try: async () => {
      const file = join(runDir, lockName)
      try {
        const handle = await open(file, "wx")
        const holder: Holder = { host: hostname(), pid: process.pid, token }
        await handle.writeFile(JSON.stringify(holder)).finally(() => handle.close())
        return true
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
        const dead = await deadHolder(file)
        if (dead !== undefined) await breakLock(file, dead)
        return false
      }
    },
    catch: failure(runDir, `cannot lock ${join(runDir, lockName)}`)
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
const release = (runDir: string, token: string) =>
  Effect.promise(async () => {
    const file = join(runDir, lockName)
    const holder = parseHolder(await readFile(file, "utf8").catch(() => ""))
    if (holder?.token === token) await rm(file, { force: true })
  })

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
