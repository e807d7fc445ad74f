/**
 * A lock file made with `O_EXCL`, naming its holder: host, pid and a token of the holder's
 * own. No library of ours offers a cross-process lock; this is all sous needs (the adoption
 * lock of a run directory, the one worker of a SQLite file).
 *
 * A holder can die holding it (a SIGKILLed worker, a dead machine). One on this host whose
 * process is gone is dead at once; one on another host only once its lock is older than
 * `staleAfterMillis`, when the lock's user gives such an age (a lock held for a process's
 * whole life has none: its file must then be removed by hand).
 */
import { randomUUID } from "node:crypto"
import { link, open, readFile, rename, rm, stat } from "node:fs/promises"
import { hostname } from "node:os"

/** Who holds a lock. */
export interface LockHolder {
  readonly host: string
  readonly pid: number
  readonly token: string
}

const parseHolder = (text: string): LockHolder | undefined => {
  try {
    const holder = JSON.parse(text) as Partial<LockHolder>
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

const readHolder = (file: string) => readFile(file, "utf8").then(parseHolder, () => undefined)

/** The holder of the lock at `file` when it is dead, or undefined while it may be alive. */
const deadHolder = async (file: string, staleAfterMillis: number | undefined): Promise<LockHolder | "unnamed" | undefined> => {
  const [held, text] = await Promise.all([stat(file).catch(() => undefined), readFile(file, "utf8").catch(() => undefined)])
  if (held === undefined || text === undefined) return undefined
  const holder = parseHolder(text)
  const old = staleAfterMillis !== undefined && Date.now() - held.mtimeMs > staleAfterMillis
  if (holder === undefined) return old ? "unnamed" : undefined // a holder between create and write
  return (holder.host === hostname() && processIsGone(holder.pid)) || old ? holder : undefined
}

/**
 * Removes a dead holder's lock. Two waiters may find the same dead lock: each first moves it
 * aside under a name of its own, then checks it moved the lock it judged; one that moved a
 * fresh lock (another waiter broke the dead one and took the lock in between) puts it back.
 */
const breakLock = async (file: string, judged: LockHolder | "unnamed") => {
  const aside = `${file}.${randomUUID()}`
  try {
    await rename(file, aside)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return
    throw error
  }
  const moved = await readHolder(aside)
  if (moved !== undefined && (judged === "unnamed" || moved.token !== judged.token)) {
    await link(aside, file).catch(() => undefined)
  }
  await rm(aside, { force: true })
}

/**
 * Takes the lock at `file` for `token` if it is free (or its holder is dead); resolves with
 * true when taken, else with the live holder as far as it can be read.
 */
export const tryLockFile = async (file: string, token: string, staleAfterMillis?: number): Promise<true | LockHolder | undefined> => {
  try {
    const handle = await open(file, "wx")
    const holder: LockHolder = { host: hostname(), pid: process.pid, token }
    await handle.writeFile(JSON.stringify(holder)).finally(() => handle.close())
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
    const dead = await deadHolder(file, staleAfterMillis)
    if (dead === undefined) return readHolder(file)
    await breakLock(file, dead)
    return undefined
  }
}

/** Removes the lock at `file` if `token` still holds it (a waiter may have broken it as dead). */
export const releaseLockFile = async (file: string, token: string): Promise<void> => {
  if ((await readHolder(file))?.token === token) await rm(file, { force: true })
}
