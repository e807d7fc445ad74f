import { spawn } from "node:child_process"
import { existsSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs"
import { hostname } from "node:os"
import { join } from "node:path"
import { Effect, Exit, Fiber } from "effect"
import { describe, expect, it } from "vitest"
import { withRunLock } from "../../src/durable/segment/run-lock.js"
import { testDirectory } from "../support/temp-directory.js"

// A process that has exited: its pid names no process (pids are not reused this quickly).
const deadPid = () =>
  new Promise<number>((resolve) => {
    const child = spawn(process.execPath, ["-e", ""])
    child.on("exit", () => resolve(child.pid!))
  })

const holdLock = (runDir: string, holder: object, ageSeconds = 0) => {
  const file = join(runDir, "adopt.lock")
  writeFileSync(file, JSON.stringify(holder))
  const then = Date.now() / 1000 - ageSeconds
  utimesSync(file, then, then)
  return file
}

const timed = async <A>(effect: Effect.Effect<A, unknown>) => {
  const start = Date.now()
  const exit = await Effect.runPromiseExit(effect)
  return { exit, millis: Date.now() - start }
}

describe("the adoption lock of a run directory", () => {
  it("is taken at once from a holder on this host whose process is gone, and released after", async () => {
    const runDir = testDirectory("run-lock")
    const file = holdLock(runDir, { host: hostname(), pid: await deadPid(), token: "dead" })
    const { exit, millis } = await timed(withRunLock(runDir, Effect.sync(() => JSON.parse(readFileSync(file, "utf8")) as { pid: number })))
    expect(Exit.isSuccess(exit) && exit.value.pid).toBe(process.pid)
    expect(millis).toBeLessThan(5_000) // not the 15 s of a lock from another host
    expect(existsSync(file)).toBe(false)
  })

  it("is waited for while its holder lives, then taken once the holder lets it go", async () => {
    const runDir = testDirectory("run-lock")
    const file = holdLock(runDir, { host: hostname(), pid: process.pid, token: "alive" })
    const letGo = setTimeout(() => rmSync(file), 500)
    const { exit, millis } = await timed(withRunLock(runDir, Effect.succeed("held")))
    clearTimeout(letGo)
    expect(Exit.isSuccess(exit)).toBe(true)
    expect(millis).toBeGreaterThanOrEqual(450)
  })

  it("is broken when a holder on another host has kept it longer than any adoption takes", async () => {
    const runDir = testDirectory("run-lock")
    holdLock(runDir, { host: "another-host", pid: 1, token: "elsewhere" }, 20)
    const { exit } = await timed(withRunLock(runDir, Effect.succeed("held")))
    expect(Exit.isSuccess(exit)).toBe(true)
  })

  it("is not broken while a holder on another host has held it briefly, and its wait can be interrupted", async () => {
    const runDir = testDirectory("run-lock")
    const file = holdLock(runDir, { host: "another-host", pid: 1, token: "elsewhere" })
    const fiber = Effect.runFork(withRunLock(runDir, Effect.succeed("held")))
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(JSON.parse(readFileSync(file, "utf8"))).toMatchObject({ token: "elsewhere" })
    const { millis } = await timed(Fiber.interrupt(fiber))
    expect(millis).toBeLessThan(5_000)
    expect(JSON.parse(readFileSync(file, "utf8"))).toMatchObject({ token: "elsewhere" })
  })
})
