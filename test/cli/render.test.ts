import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { root, runCli } from "./run-cli.js"

const recipe = join(root, "examples/sft-arithmetic/recipe.yaml")

describe("sous render", () => {
  it("shows the first conversations with the trained tokens marked", () => {
    const result = runCli(["render", recipe, "--limit", "2"])
    expect(result.code).toBe(0)
    expect(result.stdout).toBe(
      `── ${join(root, "examples/sft-arithmetic/data/train.jsonl")}:1: 36 tokens, 3 trained\n` +
        "<|bos|>User: Add 1 and 88.\n\nAssistant: [[89<|eos|>]]\n\n" +
        `── ${join(root, "examples/sft-arithmetic/data/train.jsonl")}:2: 37 tokens, 4 trained\n` +
        "<|bos|>User: Compute 76+91\n\nAssistant: [[167<|eos|>]]\n\n"
    )
    const all = runCli(["render", recipe, "--limit", "1", "--set", "renderer.format=chatml", "--set", "renderer.trainOn=all"])
    expect(all.stdout).toContain("<|bos|><|im_start|>user\n[[Add 1 and 88.<|im_end|>]]\n<|im_start|>assistant\n[[89<|im_end|>]]")
  })

  it("shows a preference row's prompt with the chosen and then the rejected reply marked", () => {
    const result = runCli(["render", join(root, "examples/dpo-preferences/recipe.yaml"), "--limit", "1"])
    expect(result.code).toBe(0)
    const train = join(root, "examples/dpo-preferences/data/train.jsonl")
    expect(result.stdout).toBe(
      `── ${train}:1 chosen: 35 tokens, 3 trained\n` +
        "<|bos|>User: Compute 1+31\n\nAssistant: [[32<|eos|>]]\n\n" +
        `── ${train}:1 rejected: 35 tokens, 3 trained\n` +
        "<|bos|>User: Compute 1+31\n\nAssistant: [[30<|eos|>]]\n\n"
    )
  })

  it("refuses a bad --limit as a usage error", () => {
    const result = runCli(["render", recipe, "--limit", "0"])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("--limit must be a positive integer, got 0")
  })
})
