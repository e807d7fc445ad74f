import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { root } from "./run-cli.js"

describe("sous run, interrupted", () => {
  it("stops on SIGINT with exit code 130, a summary and no uncommitted blob", async () => {
    const out = join(mkdtempSync(join(tmpdir(), "sous-int-")), "run")
    const child = spawn(process.execPath, [
      join(root, "bin/sous"), "run", join(root, "examples/sft-arithmetic/recipe.yaml"), "--out", out,
      "--set", "checkpoint.every=1", "--set", "backend.device=wasm"
    ], { cwd: root })
    let stderr = ""
    child.stderr.on("data", (chunk) => (stderr += String(chunk)))
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
    // Interrupt once a few steps (each with a checkpoint) are done.
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (!existsSync(join(out, "checkpoints", "step-00000003", "manifest.json"))) return
        clearInterval(poll)
        resolve()
      }, 50)
    })
    child.kill("SIGINT")
    expect(await exited).toBe(130)
    expect(stderr).toContain("sous: the run was interrupted")

    const summary = JSON.parse(readFileSync(join(out, "summary.json"), "utf8"))
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
