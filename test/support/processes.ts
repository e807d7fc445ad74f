import type { ChildProcess } from "node:child_process"
import { onTestFinished } from "vitest"

/** Resolves once `child` has exited (at once if it already has). */
export const exited = (child: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve()
    else child.once("exit", () => resolve())
  })

/** Whether a process with this pid exists. */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Sends `name` to `pid` if it is still there. */
export const signal = (pid: number, name: NodeJS.Signals): void => {
  try {
    process.kill(pid, name)
  } catch {
    // already gone
  }
}

/**
 * Worker processes a test starts, and the segment processes it sees them run: when the test
 * finishes, every worker still running is SIGKILLed and awaited, then every segment process.
 * Call it within the test.
 */
export const workerProcesses = () => {
  const workers: Array<{ readonly child: ChildProcess; readonly output: () => string }> = []
  const segmentPids = new Set<number>()
  onTestFinished(async () => {
    for (const { child } of workers) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    await Promise.all(workers.map(({ child }) => exited(child)))
    for (const pid of segmentPids) signal(pid, "SIGKILL")
  })
  return { workers, segmentPids }
}
