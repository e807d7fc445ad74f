import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Effect } from "effect"
import { checkpointFile, type CheckpointKind, type CheckpointPath, formatCheckpointPath, parseCheckpointPath } from "../state-paths.js"
import type { WeightStore } from "../weight-store.js"

/** A checkpoint file as the REST listing describes it. */
export interface StoredCheckpoint {
  readonly checkpoint: CheckpointPath
  /** When it was last written (ms since the epoch). */
  readonly time: number
  readonly sizeBytes: number
  /** When it is deleted (ms since the epoch); undefined: never. */
  readonly expiresAt: number | undefined
}

/**
 * The checkpoints on disk, each key's apart, as the REST API lists them. A checkpoint whose
 * time to live has run out is not listed even before the server's sweep deletes it.
 */
export interface CheckpointCatalog {
  /** The key's checkpoints (of one model when given), newest first. */
  readonly list: (owner: string, modelId?: string) => Effect.Effect<ReadonlyArray<StoredCheckpoint>>
  /** One checkpoint, once any write announced for it has finished; undefined if there is none. */
  readonly find: (owner: string, checkpoint: CheckpointPath) => Effect.Effect<StoredCheckpoint | undefined>
}

const kinds: ReadonlyArray<CheckpointKind> = ["weights", "sampler_weights"]
const stateSuffix = ".state"

// A directory that does not exist yet lists as empty: a key or model that never saved.
const entries = (directory: string): Promise<Array<string>> =>
  fs.readdir(directory).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return []
    throw error
  })

/** A catalog of the checkpoints `weights` keeps under `stateDir`. */
export const makeCheckpointCatalog = (stateDir: string, weights: WeightStore): CheckpointCatalog => {
  const describe = (owner: string, checkpoint: CheckpointPath, now: number) =>
    Effect.gen(function*() {
      const expiresAt = yield* weights.expiresAt(owner, checkpoint)
      if (expiresAt !== undefined && expiresAt <= now) return undefined
      const file = checkpointFile(stateDir, owner, checkpoint)
      const stat = yield* Effect.promise(() => fs.stat(file).catch(() => undefined))
      return stat?.isFile() === true ? { checkpoint, time: stat.mtimeMs, sizeBytes: stat.size, expiresAt } : undefined
    })

  // The checkpoints a key's directories hold (directory names are URI-encoded model ids);
  // through parseCheckpointPath, so only what a client could have saved, never temp files.
  const stored = (owner: string, modelId: string | undefined) =>
    Effect.promise(async () => {
      const root = path.resolve(stateDir, "tenants", owner)
      const ids = modelId === undefined ? (await entries(root)).map((directory) => decodeURIComponentOrEmpty(directory)) : [modelId]
      const found: Array<CheckpointPath> = []
      for (const id of ids) {
        // An id no checkpoint path could hold has none, and must not reach a file name (`..`).
        if (typeof parseCheckpointPath(formatCheckpointPath({ modelId: id, kind: "weights", name: "x" })) === "string") continue
        for (const kind of kinds) {
          for (const entry of await entries(path.join(root, encodeURIComponent(id), kind))) {
            if (!entry.endsWith(stateSuffix)) continue
            const checkpoint = parseCheckpointPath(formatCheckpointPath({ modelId: id, kind, name: entry.slice(0, -stateSuffix.length) }))
            if (typeof checkpoint !== "string") found.push(checkpoint)
          }
        }
      }
      return found
    })

  const list = (owner: string, modelId?: string) =>
    Effect.gen(function*() {
      const now = Date.now()
      const described = yield* Effect.forEach(yield* stored(owner, modelId), (checkpoint) => describe(owner, checkpoint, now))
      return described
        .filter((entry) => entry !== undefined)
        .sort((a, b) => b.time - a.time || formatCheckpointPath(a.checkpoint).localeCompare(formatCheckpointPath(b.checkpoint)))
    })

  const find = (owner: string, checkpoint: CheckpointPath) =>
    Effect.flatMap(weights.exists(owner, checkpoint), (exists) => exists ? describe(owner, checkpoint, Date.now()) : Effect.succeed(undefined))

  return { list, find }
}

// A directory name that is not valid URI encoding names no model ("" is no model id).
const decodeURIComponentOrEmpty = (text: string): string => {
  try {
    return decodeURIComponent(text)
  } catch {
    return ""
  }
}
