import { existsSync, readdirSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { readMetrics } from "../support/run-directory.js"
import { sftRecipe } from "../support/short-sft.js"
import { testDirectory } from "../support/temp-directory.js"
import { runCliAsync } from "./run-cli.js"

// A learning rate of 1e308 blows the weights up in the first update: the run must fail with
// one clear line naming the step, never print `done:`, and never commit the diverged state,
// whether the next thing to happen is the next step's loss or a checkpoint of the bad weights.
const diverging = (every: number) => [
  "training.steps=6", "optimizer.lr=1e308", "optimizer.warmupSteps=0", `checkpoint.every=${every}`, "eval.every=0",
  "model.width=32", "model.layers=1", "backend.device=wasm"
].flatMap((set) => ["--set", set])

const committed = (runDir: string) =>
  existsSync(join(runDir, "checkpoints"))
    ? readdirSync(join(runDir, "checkpoints")).filter((name) => existsSync(join(runDir, "checkpoints", name, "manifest.json")))
    : []

describe("a run that diverges", () => {
  it("stops at the first loss that is not finite, exits 1 with the step, and commits no checkpoint", async () => {
    const out = join(testDirectory("diverged"), "run")
    const result = await runCliAsync(["run", sftRecipe, "--out", out, ...diverging(2)])
    expect(result.code).toBe(1)
    expect(result.stdout).not.toContain("done:")
    expect(result.stderr).toMatch(/^sous: training diverged at step 2: loss is NaN at learning rate [0-9.e+]+\. The run stops here;/m)
    expect(result.stderr).not.toMatch(/\n\s+at /)
    expect(readMetrics(out).map((line) => line.step)).toEqual([1, 2])
    expect(committed(out)).toEqual([])
  }, 120_000)

  it("refuses to checkpoint weights that are not finite, though the step's loss was", async () => {
    const out = join(testDirectory("diverged"), "run")
    const result = await runCliAsync(["run", sftRecipe, "--out", out, ...diverging(1)])
    expect(result.code).toBe(1)
    expect(result.stdout).not.toContain("done:")
    expect(result.stderr).toMatch(/holds NaN: training diverged, and state that is not finite is never saved/)
    expect(committed(out)).toEqual([])
  }, 120_000)
})
