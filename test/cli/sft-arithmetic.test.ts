import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { readManifest, readRun, readSummary } from "../support/run-directory.js"
import { testDirectory } from "../support/temp-directory.js"
import { root, runCli } from "./run-cli.js"

// The example, shortened: 60 steps instead of 300. With seed 0 the held-out NLL must fall
// to at most half of its value before training (the full example's claim, measured early).
describe("examples/sft-arithmetic, shortened", () => {
  it("learns: held-out NLL halves, and the run directory holds every file", () => {
    const out = join(testDirectory("e2e"), "run")
    const result = runCli([
      "run", join(root, "examples/sft-arithmetic/recipe.yaml"), "--out", out,
      "--set", "training.steps=60", "--set", "eval.every=30", "--set", "checkpoint.every=30", "--set", "backend.device=wasm"
    ])
    expect(result.stderr).not.toContain("sous:")
    expect(result.code).toBe(0)

    expect(readdirSync(out).sort()).toEqual(["checkpoints", "events.jsonl", "metrics.jsonl", "recipe.json", "summary.json"])
    const { metrics, summary } = readRun(out)
    expect(metrics.map((line) => line.step)).toEqual(Array.from({ length: 60 }, (_, index) => index + 1))
    for (const line of metrics) {
      expect(Object.keys(line)).toEqual(expect.arrayContaining(["step", "loss", "lr", "tokens", "seconds"]))
      expect(line.lr).toBeGreaterThan(0)
    }

    expect(summary.firstEval.step).toBe(0)
    expect(summary.lastEval.step).toBe(60)
    expect(summary.lastEval.metrics.eval_nll).toBeLessThanOrEqual(0.5 * summary.firstEval.metrics.eval_nll)
    // Bits per byte: the NLL in bits over the bytes of the trained text, the answers (each
    // answer's <|eos|> is trained too but has no text).
    const answerBytes = readFileSync(join(root, "examples/sft-arithmetic/data/eval.jsonl"), "utf8").trim().split("\n")
      .flatMap((line) => JSON.parse(line).messages as Array<{ role: string; content: string }>)
      .reduce((total, message) => total + (message.role === "assistant" ? Buffer.byteLength(message.content) : 0), 0)
    const { eval_nll, eval_tokens, eval_bpb } = summary.lastEval.metrics
    expect(eval_bpb).toBeCloseTo((eval_nll * eval_tokens) / Math.LN2 / answerBytes, 9)
    expect(summary.checkpoints).toEqual(["step-00000030", "final"])

    const manifest = readManifest(out, "final")
    expect(manifest.step).toBe(60)
    expect(manifest.parent).toBe("step-00000030")
    expect(manifest.dataCursor).toEqual({ epoch: 0, position: 60 * 16 })
    expect(manifest.state).toEqual({ _tag: "Blob", key: `final/state-${summary.runId}.bin` })
    expect(readFileSync(join(out, "checkpoints", manifest.blobs[0]!.key)).byteLength).toBe(manifest.blobs[0]!.bytes)
  })

  // LoRA over the same (randomly initialised, frozen) base: rank-8 adapters on every
  // projection and the unembedding, at a higher learning rate as LoRA needs.
  it("learns with LoRA: held-out NLL halves and checkpoints hold the adapters alone", () => {
    const out = join(testDirectory("e2e"), "run")
    const result = runCli([
      "run", join(root, "examples/sft-arithmetic/recipe.yaml"), "--out", out,
      "--set", "training.steps=60", "--set", "eval.every=60", "--set", "checkpoint.every=60",
      "--set", "model.lora.rank=8", "--set", "optimizer.lr=1e-2", "--set", "backend.device=wasm"
    ])
    expect(result.stderr).not.toContain("sous:")
    expect(result.code).toBe(0)
    const summary = readSummary(out)
    expect(summary.lastEval.step).toBe(60)
    expect(summary.lastEval.metrics.eval_nll).toBeLessThanOrEqual(0.5 * summary.firstEval.metrics.eval_nll)
    const manifest = readManifest(out, "final")
    // Adapters and their moments: about 260 KB against 1.66 MB for a full state of this model.
    expect(manifest.blobs[0]!.bytes).toBeLessThan(300_000)
  })
})
