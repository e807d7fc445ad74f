import { spawn, spawnSync } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

/** The repository root. */
export const root = join(dirname(fileURLToPath(import.meta.url)), "../..")

/** What a `sous` process printed and how it exited. */
export interface CliResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs the real `sous` command (bin/sous over the built dist/) in a child process, as a
 * user would, so exit codes and what reaches the terminal are tested for real.
 */
export const runCli = (args: ReadonlyArray<string>): CliResult => {
  const result = spawnSync(process.execPath, [join(root, "bin/sous"), ...args], {
    cwd: root,
    encoding: "utf8",
    timeout: 900_000
  })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

/**
 * {@link runCli} without blocking this process, for tests whose servers (a stand-in Hub)
 * run in it; `env` adds to the inherited environment.
 */
export const runCliAsync = (args: ReadonlyArray<string>, env: Readonly<Record<string, string>> = {}): Promise<CliResult> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, "bin/sous"), ...args], { cwd: root, env: { ...process.env, ...env } })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk) => (stdout += String(chunk)))
    child.stderr.on("data", (chunk) => (stderr += String(chunk)))
    child.on("error", reject)
    child.on("exit", (code) => resolve({ code, stdout, stderr }))
  })

/**
 * Starts `sous` with `args` and kills it with SIGKILL as soon as `ready` says so (asked every
 * few milliseconds, one question at a time), as a crash would. Resolves when the process is
 * gone; rejects if it ended on its own first. `env` adds to the inherited environment.
 */
export const runAndKill = (
  args: ReadonlyArray<string>,
  ready: () => boolean | Promise<boolean>,
  env: Readonly<Record<string, string>> = {}
): Promise<void> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, "bin/sous"), ...args], { cwd: root, env: { ...process.env, ...env } })
    let asking = false
    const poll = setInterval(() => {
      if (asking) return
      asking = true
      // A question that throws (a half-written line, say) counts as "not yet".
      Promise.resolve().then(ready).then(
        (yes) => {
          asking = false
          if (!yes) return
          clearInterval(poll)
          child.kill("SIGKILL")
        },
        () => (asking = false)
      )
    }, 2)
    child.on("exit", (_code, signal) => {
      clearInterval(poll)
      if (signal === "SIGKILL") resolve()
      else reject(new Error(`sous ended on its own before the kill (signal ${signal})`))
    })
  })
