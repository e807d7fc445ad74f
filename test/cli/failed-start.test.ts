import { copyFileSync, existsSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { shortSftSets, sftRecipe } from "../support/short-sft.js"
import { testDirectory } from "../support/temp-directory.js"
import { root, runCli } from "./run-cli.js"

describe("sous run that cannot start", () => {
  it("leaves no run directory behind, so the corrected rerun needs no --overwrite", () => {
    const dir = testDirectory("failed-start")
    const out = join(dir, "run")
    const data = join(dir, "train.jsonl")
    const args = ["run", sftRecipe, "--out", out, ...[...shortSftSets(2, 0), `data.train=${data}`, "eval.batchSize=8"].flatMap((set) => ["--set", set])]
    const missing = runCli(args)
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain(data)
    expect(existsSync(out)).toBe(false)
    copyFileSync(join(root, "examples/sft-arithmetic/data/train.jsonl"), data)
    const rerun = runCli(args)
    expect(rerun.stderr).not.toContain("already holds a run")
    expect(rerun.code).toBe(0)
    expect(existsSync(join(out, "summary.json"))).toBe(true)
  })
})
