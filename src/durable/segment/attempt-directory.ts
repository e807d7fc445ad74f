/** Where an attempt of a segment writes: a directory of its own inside the run directory. */
import { randomUUID } from "node:crypto"
import { join } from "node:path"

/** The folder of the run directory that holds every attempt's directory. */
export const attemptsDirectory = (runDir: string): string => join(runDir, "attempts")

/**
 * The directory of one attempt: its `metrics.jsonl`, `events.jsonl` and `summary.json`,
 * none of which is part of the run until adopted (see `adoptCommitted`).
 */
export const attemptDirectory = (runDir: string, attemptId: string): string => join(attemptsDirectory(runDir), attemptId)

/** The default checkpoint store every attempt of a run shares (a recipe's `checkpoint.uri` wins). */
export const runCheckpointStore = (runDir: string): string => join(runDir, "checkpoints")

// Safe as a directory name and inside a blob key on every store.
const attemptIdPattern = /^[A-Za-z0-9_-]{1,64}$/

/** Whether `id` can name an attempt: 1 to 64 letters, digits, `_` or `-`. */
export const isAttemptId = (id: string): boolean => attemptIdPattern.test(id)

/**
 * A fresh attempt id. Every execution of a segment needs its own, even a retry of the same
 * activity: the id is what tells the attempt that committed a checkpoint from one that lost.
 */
export const newAttemptId = (): string => randomUUID()
