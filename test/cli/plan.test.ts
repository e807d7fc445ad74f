import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { root, runCli } from "./run-cli.js"

// Each example's recipe, planned: its kind's workflow tree with the stages that make the
// kind what it is, and its schedule. Nothing runs, so a missing starting checkpoint is fine.
const examples: ReadonlyArray<readonly [string, string, ReadonlyArray<string>]> = [
  ["dpo-preferences/recipe.yaml", "preference", ["stage reference-logprobs", "DPO (beta 0.1)", "eval: held-out preference accuracy"]],
  ["rl-arithmetic/recipe.yaml", "rl", ["stage rollouts — 8 episodes per prompt", "importance_sampling", "eval: held-out reward of greedy replies"]],
  ["distill-arithmetic/recipe.yaml", "distill", ["stage student-rollouts", "−(log p_student − log p_teacher)", "eval: held-out reverse KL"]],
  ["classify-digits/recipe.yaml", "classify", ["stage load-data", "eval: held-out accuracy and NLL"]],
  ["sft-arithmetic/recipe.yaml", "supervised", ["stage render", "eval: held-out NLL and bits per byte"]]
]

describe("sous plan", () => {
  for (const [file, kind, expected] of examples) {
    it(`shows the ${kind} workflow of examples/${file}`, () => {
      const result = runCli(["plan", join(root, "examples", file)])
      expect(result.stderr).not.toContain("sous:")
      expect(result.code).toBe(0)
      expect(result.stdout).toContain(`workflow ${kind}\n`)
      for (const text of expected) expect(result.stdout).toContain(text)
    })
  }

  it("shows both workflows of examples/pipeline-sft-rl", () => {
    const result = runCli(["plan", join(root, "examples/pipeline-sft-rl/pipeline.yaml")])
    expect(result.code).toBe(0)
    expect(result.stdout).toContain("── stage 1/2: sft (supervised)\nworkflow supervised\n")
    expect(result.stdout).toContain("── stage 2/2: rl (rl, from the final checkpoint of the stage before)\nworkflow rl\n")
  })
})
