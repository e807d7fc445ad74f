import { readdirSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { hasCheckpoint, readCheckpointState, readManifest, readMetrics, readRun } from "../support/run-directory.js"
import { testDirectory } from "../support/temp-directory.js"
import { root, runAndKill, runCli } from "./run-cli.js"

const recipe = join(root, "examples/classify-digits/recipe.yaml")

// The example, shortened: 200 steps instead of 600, on wasm. With seed 0 the held-out
// accuracy on the 1,000 held-out digits must reach 0.85 (the full run reaches about 0.95),
// up from chance (about 0.1) before training.
describe("examples/classify-digits, shortened", () => {
  it("learns: held-out accuracy reaches 0.85, and the run directory holds every file", () => {
    const out = join(testDirectory("e2e"), "run")
    const result = runCli([
      "run", recipe, "--out", out,
      "--set", "training.steps=200", "--set", "eval.every=100", "--set", "checkpoint.every=100", "--set", "backend.device=wasm"
    ])
    expect(result.stderr).not.toContain("sous:")
    expect(result.code).toBe(0)
    expect(result.stderr).toContain("accuracy")

    expect(readdirSync(out).sort()).toEqual(["checkpoints", "events.jsonl", "metrics.jsonl", "recipe.json", "summary.json"])
    const { metrics, summary } = readRun(out)
    expect(metrics.map((line) => line.step)).toEqual(Array.from({ length: 200 }, (_, index) => index + 1))

    expect(summary.firstEval.step).toBe(0)
    expect(summary.firstEval.metrics.eval_examples).toBe(1000)
    expect(summary.firstEval.metrics.eval_accuracy).toBeLessThan(0.3)
    expect(summary.lastEval.step).toBe(200)
    expect(summary.lastEval.metrics.eval_accuracy).toBeGreaterThanOrEqual(0.85)
    expect(summary.lastEval.metrics.eval_nll).toBeLessThan(0.5 * summary.firstEval.metrics.eval_nll)
    expect(summary.checkpoints).toEqual(["step-00000100", "final"])

    const manifest = readManifest(out, "final")
    expect(manifest.step).toBe(200)
    expect(manifest.rendererId).toBe("classify")
    expect(manifest.dataCursor).toEqual({ epoch: 1, position: 200 * 32 - 5000 })
  })

  it("plans: sous plan prints the classify workflow and its schedule", () => {
    const result = runCli(["plan", recipe])
    expect(result.code).toBe(0)
    expect(result.stdout).toContain("workflow classify")
    expect(result.stdout).toContain("held-out accuracy and NLL")
    expect(result.stdout).toContain("steps: 600 optimizer steps in batches of 32")
  })

  it("sous render refuses a classify recipe with a clear message", () => {
    const result = runCli(["render", recipe])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain("a classify recipe has no text to render")
  })

  // Resume works for classify as for supervised: killed after a checkpoint, resumed, the final
  // state is byte-identical to the uninterrupted run's.
  it("resumes after SIGKILL to the same final weights", async () => {
    const settings = ["--set", "training.steps=60", "--set", "eval.every=30", "--set", "checkpoint.every=20", "--set", "backend.device=wasm"]
    const whole = join(testDirectory("e2e"), "run")
    expect(runCli(["run", recipe, "--out", whole, ...settings]).code).toBe(0)
    const killed = join(testDirectory("e2e"), "run")
    await runAndKill(["run", recipe, "--out", killed, ...settings], () => hasCheckpoint(killed, "step-00000020"))
    expect(hasCheckpoint(killed, "final")).toBe(false)
    const resumed = runCli(["resume", killed])
    expect(resumed.code).toBe(0)
    expect(readCheckpointState(killed).equals(readCheckpointState(whole))).toBe(true)
    const steps = readMetrics(killed).map((line) => line.step)
    expect(steps).toEqual(Array.from({ length: 60 }, (_, index) => index + 1))
  })
})
