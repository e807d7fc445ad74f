import { readdirSync } from "node:fs"
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { checkpointDone, readMetrics, readSummary } from "../support/run-directory.js"
import { suiteDirectory } from "../support/temp-directory.js"
import { root, runAndKill, runCli } from "./run-cli.js"

const recipe = join(root, "examples/dpo-preferences/recipe.yaml")
// Shared: the SFT model made before the tests, and the uninterrupted DPO run the resumed one must match.
const work = suiteDirectory("e2e")
const sft = join(work, "sft")

// The example, shortened: DPO starts from a 60-step SFT model (not 300) and runs 40 steps
// (not 100). With seed 0 the held-out preference accuracy must rise above 0.8 (it reaches
// 0.83), from about chance (policy and reference are the same model at step 0, so margins
// are zero up to rounding).
const settings = [
  "--set", `model.from.store=${join(sft, "checkpoints")}`,
  "--set", "training.steps=40", "--set", "eval.every=20", "--set", "checkpoint.every=20",
  "--set", "optimizer.warmupSteps=5", "--set", "backend.device=wasm"
]

/** metrics.jsonl without the wall-clock seconds, which differ run to run. */
const metricLines = (runDir: string) => readMetrics(runDir).map(({ seconds: _, ...rest }) => rest)

/** Starts this file's run in `runDir` and kills it with SIGKILL once `ready` says so. */
const killRun = (runDir: string, ready: () => boolean): Promise<void> =>
  runAndKill(["run", recipe, "--out", runDir, ...settings], ready)

describe("examples/dpo-preferences, shortened", () => {
  const out = join(work, "dpo")

  beforeAll(() => {
    const result = runCli([
      "run", join(root, "examples/sft-arithmetic/recipe.yaml"), "--out", sft,
      "--set", "training.steps=60", "--set", "eval.every=0", "--set", "backend.device=wasm"
    ])
    expect(result.stderr).not.toContain("sous:")
    expect(result.code).toBe(0)
  }, 300_000)

  it("learns: held-out preference accuracy rises above 0.8 from chance", () => {
    const result = runCli(["run", recipe, "--out", out, ...settings])
    expect(result.stderr).not.toContain("sous:")
    expect(result.code).toBe(0)
    expect(readdirSync(out).sort()).toEqual(["checkpoints", "events.jsonl", "metrics.jsonl", "recipe.json", "summary.json"])

    const metrics = metricLines(out)
    expect(metrics.map((line) => line.step)).toEqual(Array.from({ length: 40 }, (_, index) => index + 1))
    for (const line of metrics) {
      expect(Object.keys(line)).toEqual(expect.arrayContaining(["loss", "preference_accuracy", "margin", "tokens", "lr"]))
    }
    // DPO's loss per pair starts at log 2: policy and reference are the same weights.
    expect(metrics[0]!.loss).toBeCloseTo(Math.LN2, 3)

    const summary = readSummary(out)
    expect(summary.firstEval.step).toBe(0)
    expect(summary.firstEval.metrics.eval_pairs).toBe(200)
    expect(Math.abs(summary.firstEval.metrics.eval_margin!)).toBeLessThan(1e-4)
    expect(summary.firstEval.metrics.eval_preference_accuracy).toBeLessThan(0.65)
    expect(summary.lastEval.step).toBe(40)
    expect(summary.lastEval.metrics.eval_preference_accuracy).toBeGreaterThan(0.8)
    expect(summary.lastEval.metrics.eval_margin).toBeGreaterThan(0)
    expect(summary.lastEval.metrics.eval_dpo_loss).toBeLessThan(summary.firstEval.metrics.eval_dpo_loss!)
    // The policy itself now prefers the sum, up from the SFT model's own preference.
    expect(summary.lastEval.metrics.eval_policy_accuracy).toBeGreaterThan(summary.firstEval.metrics.eval_policy_accuracy! + 0.2)
    expect(summary.checkpoints).toEqual(["step-00000020", "final"])
  }, 300_000)

  // A resumed run scores the pairs again with the starting weights: were the reference
  // taken from the restored (trained) weights instead, every number after the kill would differ.
  it("resumes after SIGKILL to the same numbers as the uninterrupted run", async () => {
    const killed = join(work, "killed")
    await killRun(killed, checkpointDone(killed, 20))
    const resumed = runCli(["resume", killed])
    expect(resumed.stderr).not.toContain("sous:")
    expect(resumed.code).toBe(0)
    expect(metricLines(killed)).toEqual(metricLines(out))
    const { firstEval, lastEval, bestEval, checkpoints } = readSummary(killed)
    const uninterrupted = readSummary(out)
    expect({ firstEval, lastEval, bestEval, checkpoints }).toEqual({
      firstEval: uninterrupted.firstEval,
      lastEval: uninterrupted.lastEval,
      bestEval: uninterrupted.bestEval,
      checkpoints: uninterrupted.checkpoints
    })
    // Two runs of the DPO recipe back to back: on a busy 2-core machine that exceeds the
    // default two minutes.
  }, 300_000)
})
