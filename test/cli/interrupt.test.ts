import { spawn } from "node:child_process"
import { existsSync, readdirSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it, onTestFinished } from "vitest"
import { hasCheckpoint, readSummary } from "../support/run-directory.js"
import { testDirectory } from "../support/temp-directory.js"
import { root } from "./run-cli.js"

describe("sous run, interrupted", () => {
  it("stops on SIGINT with exit code 130, a summary and no uncommitted blob", async () => {
    const out = join(testDirectory("int"), "run")
    const child = spawn(process.execPath, [
      join(root, "bin/sous"), "run", join(root, "examples/sft-arithmetic/recipe.yaml"), "--out", out,
      "--set", "checkpoint.every=1", "--set", "backend.device=wasm"
    ], { cwd: root })
    let stderr = ""
    child.stderr.on("data", (chunk) => (stderr += String(chunk)))
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
    // A test that fails before the child ends stops it before its directory is removed.
    onTestFinished(async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill("SIGKILL")
      await exited
    })
    // Interrupt once a few steps (each with a checkpoint) are done.
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (!hasCheckpoint(out, "step-00000003")) return
        clearInterval(poll)
        resolve()
      }, 50)
    })
    child.kill("SIGINT")
    expect(await exited).toBe(130)
    expect(stderr).toContain("sous: the run was interrupted")

    const summary = readSummary(out)
    expect(summary.steps).toBeGreaterThanOrEqual(3)
    // Every checkpoint with a file is committed: a manifest beside exactly the blob it names.
    // (An interrupted save may leave an empty directory: its blob was removed by release.)
    const names = readdirSync(join(out, "checkpoints")).filter((name) => name !== "index.json")
    expect(names.length).toBeGreaterThanOrEqual(3)
    for (const name of names) {
      const files = readdirSync(join(out, "checkpoints", name)).sort()
      if (files.length > 0) expect(files).toEqual(["manifest.json", `state-${summary.runId}.bin`])
    }
    expect(existsSync(join(out, "checkpoints", "final"))).toBe(false)
  })
})
