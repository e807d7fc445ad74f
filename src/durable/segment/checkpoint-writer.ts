/**
 * Which attempt wrote a committed checkpoint. Only that attempt's metrics and events become
 * part of the run: any other attempt of the same segment lost the race to commit, or never
 * got that far.
 */
import { existsSync } from "node:fs"
import { readdir } from "node:fs/promises"
import { join } from "node:path"
import type { CheckpointManifest } from "../../ports/index.js"
import { attemptOfStateKey } from "../../stages/index.js"
import { attemptDirectory, attemptsDirectory } from "./attempt-directory.js"
import { readJsonlLines } from "./jsonl-lines.js"

/**
 * Whether the attempt's events hold the `checkpoint` event of `manifest`: the checkpoint stage
 * sends it only once its manifest is committed (or found to be its own), so a loser never
 * has it.
 */
const sentCommitEvent = async (runDir: string, attemptId: string, manifest: CheckpointManifest): Promise<boolean> =>
  (await readJsonlLines(join(attemptDirectory(runDir, attemptId), "events.jsonl"))).some(({ value }) =>
    value["name"] === "checkpoint" && value["step"] === manifest.step &&
    (value["data"] as { name?: unknown } | undefined)?.name === manifest.name
  )

/**
 * The attempt that wrote the committed checkpoint `manifest` into the store of the run in
 * `runDir`, or undefined when no attempt of the run did (a checkpoint of `sous run`). Its
 * state blob is named after the attempt, which holds even when the attempt died right after
 * its commit; a state a remote backend keeps has no blob, and then the attempt is the one
 * whose events hold the commit's `checkpoint` event.
 */
export const checkpointWriter = async (runDir: string, manifest: CheckpointManifest): Promise<string | undefined> => {
  const named = manifest.blobs.map((blob) => attemptOfStateKey(blob.key)).find((id) => id !== undefined)
  if (named !== undefined) return existsSync(attemptDirectory(runDir, named)) ? named : undefined
  if (manifest.blobs.length > 0) return undefined
  const attempts = await readdir(attemptsDirectory(runDir)).catch(() => [])
  for (const attemptId of attempts.sort()) {
    if (await sentCommitEvent(runDir, attemptId, manifest)) return attemptId
  }
  return undefined
}
