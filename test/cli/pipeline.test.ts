import { rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { metricsTextWithoutSeconds, type PipelineSummary, readRecipe, readSummary, type RunSummary } from "../support/run-directory.js"
import { testDirectory } from "../support/temp-directory.js"
import { root, runCli } from "./run-cli.js"

const sft = join(root, "examples/sft-arithmetic/recipe.yaml")

const writePipeline = (dir: string, stages: string): string => {
  const file = join(dir, "pipeline.yaml")
  writeFileSync(file, `kind: pipeline\nname: two-sft\nstages:\n${stages}`)
  return file
}

// Two short SFT stages: the second continues from the first's final weights.
const twoStages = [
  `  - name: first\n    recipe: ${sft}\n    set: ["training.steps=20", "eval.every=0", "backend.device=wasm"]\n`,
  `  - name: second\n    recipe: ${sft}\n    set: ["training.steps=10", "eval.every=0", "optimizer.warmupSteps=0", "backend.device=wasm"]\n`
].join("")

describe("pipeline recipes", () => {
  it("run each stage from the previous stage's final checkpoint, and resume skips finished stages", () => {
    const dir = testDirectory("pipeline")
    const out = join(dir, "run")
    const file = writePipeline(dir, twoStages)
    const result = runCli(["run", file, "--out", out])
    expect(result.stderr).not.toContain("sous:")
    expect(result.code).toBe(0)

    const first = readSummary(join(out, "first"))
    const second = readSummary(join(out, "second"))
    expect([first.steps, second.steps]).toEqual([20, 10])
    // The second stage starts from the very weights the first ended with: its eval before
    // training equals the first stage's last eval, where fresh weights would score ~5.6.
    expect(second.firstEval.metrics.eval_nll).toBeCloseTo(first.lastEval.metrics.eval_nll, 9)
    expect(second.lastEval.metrics.eval_nll).toBeLessThan(second.firstEval.metrics.eval_nll)
    expect(readRecipe(join(out, "second")).model.from).toEqual({ store: join(out, "first/checkpoints"), checkpoint: "final" })
    const summary = readSummary<PipelineSummary>(out)
    expect(summary.stages.map((stage) => [stage.name, stage.steps])).toEqual([["first", 20], ["second", 10]])
    // The done line carries each stage's eval measure, last and best, as its summary holds them.
    const nll = (value: number) => Number(value.toPrecision(4))
    const done = (name: string, stage: RunSummary) =>
      `${name}: ${stage.steps} steps, eval nll ${nll(stage.lastEval.metrics.eval_nll)} (best ${nll(stage.bestEval.metrics.eval_nll)} at step ${stage.bestEval.step})`
    expect(result.stdout).toContain(`done: ${done("first", first)}; ${done("second", second)}; each stage's run in ${out}/<stage>`)

    // Lose the second stage: resume skips the finished first one and runs the second again,
    // to the same numbers.
    const metrics = metricsTextWithoutSeconds(join(out, "second"))
    rmSync(join(out, "second"), { recursive: true })
    const resumed = runCli(["resume", out])
    expect(resumed.code).toBe(0)
    expect(resumed.stderr).toContain("pipeline stage 1/2 (first, supervised) finished before; skipped")
    expect(resumed.stderr).toContain("pipeline stage 2/2 (second, supervised) starts")
    expect(metricsTextWithoutSeconds(join(out, "second"))).toBe(metrics)
    // The skipped stage's numbers come from the summary it wrote before.
    expect(resumed.stdout).toContain(`done: ${done("first", first)}; second: 10 steps, eval nll `)
  }, 240_000)

  it("plan shows every stage's workflow; validate refuses stages that cannot follow", () => {
    const dir = testDirectory("pipeline")
    const planned = runCli(["plan", writePipeline(dir, twoStages)])
    expect(planned.code).toBe(0)
    expect(planned.stdout).toContain("── stage 1/2: first (supervised)")
    expect(planned.stdout).toContain("── stage 2/2: second (supervised, from the final checkpoint of the stage before)")
    expect(planned.stdout.match(/train-step/g)?.length).toBe(2)

    const classify = join(root, "examples/classify-digits/recipe.yaml")
    const bad = writePipeline(dir, `  - name: first\n    recipe: ${sft}\n  - name: first\n    recipe: ${sft}\n  - name: digits\n    recipe: ${classify}\n`)
    const refused = runCli(["validate", bad])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain("stages[1].name: stage name \"first\" is used twice")
    expect(refused.stderr).toContain("stages[2].recipe.kind: a classify recipe trains a model from scratch and cannot start from the previous stage")

    const typo = writePipeline(dir, `  - name: first\n    recipe: ${sft}\n    set: ["optimizer.lr=-1"]\n`)
    const typoResult = runCli(["validate", typo])
    expect(typoResult.code).toBe(1)
    expect(typoResult.stderr).toContain("optimizer.lr")
  }, 60_000)
})
