import * as fs from "node:fs/promises"
import * as path from "node:path"
import { replaceFile } from "../adapters/fs/durable-files.js"

/** The checkpoints saved with a `ttl_seconds`, and when each is to be deleted. */
export interface CheckpointTtl {
  /** Records (or, with `undefined`, clears) when the checkpoint `file` expires. */
  readonly set: (file: string, expiresAt: number | undefined) => Promise<void>
  /** When the checkpoint `file` expires (ms since the epoch); undefined: never. */
  readonly expiresAt: (file: string) => Promise<number | undefined>
  /** Deletes the checkpoints expired at `now`, except those `busy` says are being written. */
  readonly sweep: (now: number, busy: (file: string) => boolean) => Promise<void>
}

/**
 * The longest time to live, in seconds: a century. Far longer would pass the last date
 * JavaScript can hold (year 275760), and listings could not print the expiry.
 */
export const maxTtlSeconds = 100 * 365 * 24 * 3600

// Beside each checkpoint with a time to live, its expiry (ms since the epoch), so a restarted server still deletes it.
const sidecar = (file: string) => `${file}.expires`

/** Expiries of the checkpoints under `root`, kept beside them; read from disk on the first sweep. */
export const makeCheckpointTtl = (root: string): CheckpointTtl => {
  const expiries = new Map<string, number>()
  let loaded: Promise<void> | undefined

  const load = async () => {
    const names = await fs.readdir(root, { recursive: true }).catch(() => [])
    for (const name of names) {
      if (!name.endsWith(".state.expires")) continue
      const file = path.join(root, name.slice(0, -".expires".length))
      const at = Number(await fs.readFile(path.join(root, name), "utf8").catch(() => ""))
      if (Number.isFinite(at) && !expiries.has(file)) expiries.set(file, at)
    }
  }

  // Once, before the first read of an expiry or sweep; callers meanwhile wait for the same read.
  const ready = () => (loaded ??= load())

  const expiresAt = async (file: string) => {
    await ready()
    return expiries.get(file)
  }

  const set = async (file: string, expiresAt: number | undefined) => {
    if (expiresAt === undefined) {
      expiries.delete(file)
      await fs.rm(sidecar(file), { force: true })
      return
    }
    await replaceFile(sidecar(file), String(expiresAt))
    expiries.set(file, expiresAt)
  }

  const sweep = async (now: number, busy: (file: string) => boolean) => {
    await ready()
    for (const [file, at] of expiries) {
      if (at > now || busy(file)) continue
      expiries.delete(file)
      await fs.rm(file, { force: true })
      await fs.rm(sidecar(file), { force: true })
    }
  }

  return { set, expiresAt, sweep }
}
