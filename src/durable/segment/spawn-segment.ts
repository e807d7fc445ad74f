/**
 * Starting a segment process and following it, without blocking the caller's event loop: its
 * stdout is read line by line as it arrives, commands go to its stdin, and interrupting a
 * follow stops it.
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
import {
  formatSegmentCommand,
  parseSegmentLine,
  type SegmentCheckpoint,
  type SegmentCommand,
  type SegmentEnd,
  type SegmentProgress,
  type SegmentWaiting
} from "./segment-protocol.js"

const here = dirname(fileURLToPath(import.meta.url))

/**
 * The compiled segment process beside this module, or, when this module runs from the
 * TypeScript sources (tests), the one in the package's `dist/`.
 */
export const defaultSegmentEntry = (): string => {
  const sibling = join(here, "segment-main.js")
  return existsSync(sibling) ? sibling : join(here, "../../../dist/durable/segment/segment-main.js")
}

/** How to start the process. */
export interface SpawnSegmentOptions {
  readonly entry: string
  readonly args: ReadonlyArray<string>
  /** After being told to stop, how long the process has to end before SIGKILL. */
  readonly killGraceMillis: number
}

/** How the process ended: its last protocol line (absent after a crash), exit code or signal. */
export interface SegmentProcessExit {
  readonly end: SegmentEnd | undefined
  readonly exitCode: number | null
  readonly signal: string | null
  /** The end of its stderr (its logs), for a message when it crashed. */
  readonly stderrTail: string
  /** Whether it failed to start at all (the message is in `stderrTail`). */
  readonly notStarted: boolean
}

/** Where a followed process got to: waiting after a checkpoint, or gone. */
export type SegmentLeg =
  | { readonly _tag: "Waiting"; readonly waiting: SegmentWaiting; readonly startupMillis: number | undefined }
  | { readonly _tag: "Exited"; readonly exit: SegmentProcessExit; readonly startupMillis: number | undefined }

/** A running segment process. */
export interface SegmentProcess {
  /** Its process id (undefined when it could not start). */
  readonly pid: () => number | undefined
  /** Whether it has exited. */
  readonly exited: () => boolean
  /**
   * Sends `command` (none for a process just started), then follows the process until it
   * waits after a checkpoint or exits, passing progress and commits to `onLine` (called on
   * the event loop: keep it short). `startupMillis` is the time from the follow's start to
   * the first progress line. Interrupted, it stops the process (see `stop`).
   */
  readonly follow: (
    command: SegmentCommand | undefined,
    onLine?: ((line: SegmentProgress | SegmentCheckpoint) => void) | undefined
  ) => Effect.Effect<SegmentLeg>
  /** Tells the process `command` now (a training one to `checkpoint`); nothing once it exited. */
  readonly send: (command: SegmentCommand) => void
  /**
   * Stops the process, then SIGKILLs it after the grace period; completes once it is gone.
   * A waiting process ends at its checkpoint; one that trains is interrupted (it commits a
   * checkpoint it is writing, removes an uncommitted one and exits).
   */
  readonly stop: Effect.Effect<SegmentProcessExit>
}

const stderrKept = 8_192

/** Starts the segment process. */
export const startSegmentProcess = (options: SpawnSegmentOptions): SegmentProcess => {
  const child = spawn(process.execPath, [options.entry, ...options.args], { stdio: ["pipe", "pipe", "pipe"] })
  // A process that exits closes its stdin: a command written then must not crash the caller.
  child.stdin.on("error", () => {})
  let end: SegmentEnd | undefined
  let stderrTail = ""
  let exit: SegmentProcessExit | undefined
  let waiting: SegmentWaiting | undefined
  // Whether it waits at a checkpoint for a command (a follow delivered its `waiting`).
  let idle = false
  // The current follow: who hears lines, and who is told where the process got to.
  let onLine: ((line: SegmentProgress | SegmentCheckpoint) => void) | undefined
  let arrived: (() => void) | undefined
  let firstProgressAt: number | undefined
  const settle = () => arrived?.()
  createInterface({ input: child.stdout }).on("line", (text) => {
    const line = Option.getOrUndefined(parseSegmentLine(text))
    if (line === undefined) return
    if (line.type === "end") end = line
    else if (line.type === "waiting") {
      waiting = line
      settle()
    } else {
      if (line.type === "progress") firstProgressAt ??= Date.now()
      onLine?.(line)
    }
  })
  child.stderr.on("data", (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString("utf8")).slice(-stderrKept)
  })
  child.once("error", (error) => {
    // Only a process that never started reports here; one that did always closes.
    if (child.pid !== undefined) return
    exit = { end, exitCode: null, signal: null, stderrTail: error.message, notStarted: true }
    settle()
  })
  // `close` comes after the process exited and its output was read to the end.
  child.once("close", (exitCode, signal) => {
    exit = { end, exitCode, signal, stderrTail, notStarted: false }
    settle()
  })

  const send = (command: SegmentCommand) => {
    if (exit === undefined) child.stdin.write(formatSegmentCommand(command))
  }

  // `stop` ends a waiting process cleanly; the end of stdin interrupts one that trains.
  const stop = Effect.callback<SegmentProcessExit>((resume) => {
    if (exit !== undefined) return resume(Effect.succeed(exit))
    const kill = setTimeout(() => child.kill("SIGKILL"), options.killGraceMillis)
    child.once("close", () => {
      clearTimeout(kill)
      resume(Effect.succeed(exit!))
    })
    if (idle) send({ type: "stop" })
    else child.stdin.end()
  })

  const follow = (command: SegmentCommand | undefined, lines?: (line: SegmentProgress | SegmentCheckpoint) => void) =>
    Effect.callback<SegmentLeg>((resume) => {
      const startedAt = Date.now()
      firstProgressAt = undefined
      onLine = lines
      const startup = () => (firstProgressAt === undefined ? undefined : firstProgressAt - startedAt)
      arrived = () => {
        if (exit !== undefined) {
          arrived = undefined
          resume(Effect.succeed({ _tag: "Exited", exit, startupMillis: startup() }))
        } else if (waiting !== undefined) {
          const at = waiting
          waiting = undefined
          arrived = undefined
          idle = true
          resume(Effect.succeed({ _tag: "Waiting", waiting: at, startupMillis: startup() }))
        }
      }
      if (command !== undefined) {
        idle = false
        send(command)
      }
      settle()
      // Lines go on being heard until the process is gone: a commit it finishes while
      // stopping is reported like any other.
      return Effect.andThen(
        Effect.sync(() => (arrived = undefined)),
        Effect.ensuring(stop, Effect.sync(() => (onLine = undefined)))
      )
    })

  return { pid: () => child.pid, exited: () => exit !== undefined, follow, send, stop }
}
