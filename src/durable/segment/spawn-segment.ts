/**
 * Starting the segment process and following it, without blocking the caller's event loop:
 * its stdout is read line by line as it arrives, and interrupting the effect stops it.
 *
 * Why our own: effect's `ChildProcess` needs a platform spawner (`@effect/platform-node`),
 * which sous does not depend on; `node:child_process` with `Effect.callback` is all this needs.
 */
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { dirname, join } from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { Effect, Option } from "effect"
import { parseSegmentLine, type SegmentCheckpoint, type SegmentEnd, type SegmentProgress } from "./segment-protocol.js"

const here = dirname(fileURLToPath(import.meta.url))

/**
 * The compiled segment process beside this module, or, when this module runs from the
 * TypeScript sources (tests), the one in the package's `dist/`.
 */
export const defaultSegmentEntry = (): string => {
  const sibling = join(here, "segment-main.js")
  return existsSync(sibling) ? sibling : join(here, "../../../dist/durable/segment/segment-main.js")
}

/** How to start the process and what to tell about it. */
export interface SpawnSegmentOptions {
  readonly entry: string
  readonly args: ReadonlyArray<string>
  /** Progress and commits, as they arrive (called on the event loop: keep it short). */
  readonly onLine?: ((line: SegmentProgress | SegmentCheckpoint) => void) | undefined
  /** The process id, once started (a test kills it from outside). */
  readonly onSpawn?: ((pid: number) => void) | undefined
  /** After SIGTERM, how long the process has to stop before SIGKILL. */
  readonly killGraceMillis: number
}

/** How the process ended: its last protocol line (absent after a crash), exit code or signal. */
export interface SegmentProcessExit {
  readonly end: SegmentEnd | undefined
  readonly exitCode: number | null
  readonly signal: string | null
  /** The end of its stderr (its logs), for a message when it crashed. */
  readonly stderrTail: string
  /** Milliseconds from the spawn to its first progress line, when there was one. */
  readonly startupMillis: number | undefined
  /** Whether it failed to start at all (the message is in `stderrTail`). */
  readonly notStarted: boolean
}

const stderrKept = 8_192

/**
 * Runs the segment process to its end. Interrupted, it sends SIGTERM (the process commits a
 * checkpoint it is writing, removes an uncommitted one and exits), then SIGKILL after
 * `killGraceMillis`, and completes the interruption only once the process is gone.
 */
export const spawnSegment = (options: SpawnSegmentOptions): Effect.Effect<SegmentProcessExit> =>
  Effect.callback<SegmentProcessExit>((resume) => {
    const spawnedAt = Date.now()
    const child = spawn(process.execPath, [options.entry, ...options.args], { stdio: ["ignore", "pipe", "pipe"] })
    let end: SegmentEnd | undefined
    let startupMillis: number | undefined
    let stderrTail = ""
    let gone = false
    createInterface({ input: child.stdout }).on("line", (text) => {
      const line = Option.getOrUndefined(parseSegmentLine(text))
      if (line === undefined) return
      if (line.type === "end") end = line
      else {
        if (line.type === "progress") startupMillis ??= Date.now() - spawnedAt
        options.onLine?.(line)
      }
    })
    child.stderr.on("data", (chunk: Buffer) => {
      stderrTail = (stderrTail + chunk.toString("utf8")).slice(-stderrKept)
    })
    child.once("spawn", () => {
      if (child.pid !== undefined) options.onSpawn?.(child.pid)
    })
    child.once("error", (error) => {
      // Only a process that never started reports here; one that did always closes.
      if (child.pid !== undefined) return
      gone = true
      resume(Effect.succeed({ end, exitCode: null, signal: null, stderrTail: error.message, startupMillis, notStarted: true }))
    })
    // `close` comes after the process exited and its output was read to the end.
    child.once("close", (exitCode, signal) => {
      gone = true
      resume(Effect.succeed({ end, exitCode, signal, stderrTail, startupMillis, notStarted: false }))
    })
    return Effect.callback<void>((stopped) => {
      if (gone) return stopped(Effect.void)
      const kill = setTimeout(() => child.kill("SIGKILL"), options.killGraceMillis)
      child.once("close", () => {
        clearTimeout(kill)
        stopped(Effect.void)
      })
      child.kill("SIGTERM")
    })
  })
