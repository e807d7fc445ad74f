import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { metricsLineCount, readCheckpointState, readEvents, readMetrics, readSummary } from "../support/run-directory.js"
import { suiteDirectory, testDirectory } from "../support/temp-directory.js"
import { root, runAndKill, runCli } from "./run-cli.js"

// The example, shortened. The teacher is a 60-step sft-arithmetic model (the sft example's own
// shortened run); the student starts from random weights and trains 20 steps on 4 prompts a
// step, at a higher learning rate than the full example. With seed 0 the student's held-out
// reverse KL to the teacher must at least halve (the full example's claim, measured early).
const recipe = join(root, "examples/distill-arithmetic/recipe.yaml")
const shortened = ["--set", "training.steps=20", "--set", "training.batchSize=4", "--set", "eval.every=10",
  "--set", "optimizer.lr=2e-2", "--set", "optimizer.warmupSteps=0", "--set", "backend.device=wasm"]

// The teacher, trained before the tests.
const teacher = join(suiteDirectory("e2e"), "teacher")
const teacherStore = join(teacher, "checkpoints")

const distill = (...settings: ReadonlyArray<string>) => {
  const out = join(testDirectory("e2e"), "run")
  const result = runCli(["run", recipe, "--out", out, "--set", `teacher.store=${teacherStore}`, ...shortened, ...settings])
  expect(result.stderr).not.toContain("sous:")
  expect(result.code).toBe(0)
  return { out, summary: readSummary(out) }
}

describe("examples/distill-arithmetic, shortened", () => {
  beforeAll(() => {
    const result = runCli([
      "run", join(root, "examples/sft-arithmetic/recipe.yaml"), "--out", teacher,
      "--set", "training.steps=60", "--set", "eval.every=0", "--set", "backend.device=wasm"
    ])
    expect(result.code).toBe(0)
  })

  it("on-policy: the student's held-out reverse KL to the teacher at least halves", () => {
    const { out, summary } = distill()
    const metrics = readMetrics(out)
    expect(metrics.map((line) => line.step)).toEqual(Array.from({ length: 20 }, (_, index) => index + 1))
    for (const line of metrics) {
      expect(Object.keys(line)).toEqual(expect.arrayContaining(["loss", "reverse_kl", "teacher_nll", "tokens", "reply_tokens", "finished", "lr"]))
      // The importance-sampling loss per token is the step's reverse KL: the sampler is the step's weights.
      expect(line.loss).toBeCloseTo(line.reverse_kl, 3)
    }
    const evals = readEvents(out, "eval")
    expect(evals.map((event) => event.step)).toEqual([0, 10, 20])

    expect(summary.firstEval.step).toBe(0)
    expect(summary.lastEval.step).toBe(20)
    const first = summary.firstEval.metrics
    const last = summary.lastEval.metrics
    expect(Object.keys(last).sort()).toEqual(["eval_finished", "eval_reply_tokens", "eval_reverse_kl", "eval_teacher_nll", "eval_tokens"])
    expect(first.eval_reverse_kl).toBeGreaterThan(1)
    expect(last.eval_reverse_kl).toBeLessThanOrEqual(0.5 * first.eval_reverse_kl)
    // A random student rarely ends its turn; a distilled one answers and stops as the teacher does.
    expect(last.eval_finished).toBeGreaterThan(first.eval_finished)
    expect(summary.bestEval.metrics.eval_reverse_kl).toBeLessThanOrEqual(last.eval_reverse_kl)
    expect(summary.checkpoints).toEqual(["final"])
  })

  it("off-policy: training on the teacher's replies lowers the reverse KL too", () => {
    const { out, summary } = distill("--set", "distill.mode=off_policy")
    for (const line of readMetrics(out)) {
      expect(Object.keys(line)).toEqual(expect.arrayContaining(["loss", "tokens", "lr"]))
      expect(line).not.toHaveProperty("reverse_kl")
    }
    expect(summary.lastEval.step).toBe(20)
    expect(summary.lastEval.metrics.eval_reverse_kl).toBeLessThanOrEqual(0.5 * summary.firstEval.metrics.eval_reverse_kl)
  })

  // Sampling seeds come from the recipe seed, the step and the prompt's index, and the student
  // samples from its restored weights: a run killed after step 7 and resumed from its step-5
  // checkpoint redoes steps 6 and 7 exactly, and ends with the uninterrupted run's weights.
  it("on-policy resumes after SIGKILL to bit-identical weights and evaluations", async () => {
    // 20 held-out prompts are enough to compare evaluations, and keep the three runs short.
    const heldOut = join(testDirectory("e2e"), "eval.jsonl")
    const rows = readFileSync(join(root, "examples/sft-arithmetic/data/eval.jsonl"), "utf8").trim().split("\n")
    writeFileSync(heldOut, rows.slice(0, 20).join("\n") + "\n")
    const settings = ["--set", "training.steps=10", "--set", "checkpoint.every=5", "--set", "eval.every=5", "--set", `data.eval=${heldOut}`]
    const reference = distill(...settings)
    const runDir = join(testDirectory("e2e"), "run")
    await runAndKill(
      ["run", recipe, "--out", runDir, "--set", `teacher.store=${teacherStore}`, ...shortened, ...settings],
      () => metricsLineCount(runDir) >= 7
    )
    const resumed = runCli(["resume", runDir])
    expect(resumed.stderr).not.toContain("sous:")
    expect(resumed.code).toBe(0)
    const resumes = readEvents(runDir, "resume")
    expect(resumes.map((event) => (event.data as { checkpoint: string }).checkpoint)).toEqual(["step-00000005"])
    expect(readCheckpointState(runDir).equals(readCheckpointState(reference.out))).toBe(true)
    const summary = readSummary(runDir)
    expect(summary.lastEval).toEqual(reference.summary.lastEval)
    expect(summary.final.reverse_kl).toBe(reference.summary.final.reverse_kl)
    expect(readMetrics(runDir).map((line) => line.step)).toEqual(Array.from({ length: 10 }, (_, index) => index + 1))
  })
})
