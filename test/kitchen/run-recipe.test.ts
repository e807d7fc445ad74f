import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as tf from "@tensorflow/tfjs"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { runRecipe } from "../../src/kitchen/index.js"
import { CheckpointManifest } from "../../src/ports/index.js"
import { loadRecipe } from "../../src/recipes/index.js"
import { root } from "../cli/run-cli.js"

// Twelve steps of the example, with an eval and a checkpoint on the way: enough to cross
// every stage of the supervised workflow.
const shortRun = (runDir: string) =>
  Effect.gen(function*() {
    const recipe = yield* loadRecipe(join(root, "examples/sft-arithmetic/recipe.yaml"), [
      "training.steps=12", "optimizer.warmupSteps=2", "eval.every=6", "checkpoint.every=6", "backend.device=wasm", "eval.batchSize=50"
    ])
    return yield* runRecipe(recipe, { runDir })
  })

const finalState = (runDir: string) => {
  const checkpoints = join(runDir, "checkpoints")
  const manifest = Schema.decodeUnknownSync(CheckpointManifest)(JSON.parse(readFileSync(join(checkpoints, "final/manifest.json"), "utf8")))
  return readFileSync(join(checkpoints, manifest.blobs[0]!.key))
}

const losses = (runDir: string) =>
  readFileSync(join(runDir, "metrics.jsonl"), "utf8").trim().split("\n").map((line) => JSON.parse(line).loss as number)

describe("runRecipe", () => {
  it.live("is deterministic: same recipe and seed, bit-identical final state and losses", () =>
    Effect.gen(function*() {
      const [first, second] = [mkdtempSync(join(tmpdir(), "sous-det-")), mkdtempSync(join(tmpdir(), "sous-det-"))]
      yield* shortRun(first)
      yield* shortRun(second)
      assert.deepStrictEqual(losses(first), losses(second))
      assert.strictEqual(losses(first).length, 12)
      assert.isTrue(finalState(first).equals(finalState(second)), "final states differ")
    }))

  it.live("leaves no tensor behind: the live tensor count returns to where it started", () =>
    Effect.gen(function*() {
      yield* shortRun(mkdtempSync(join(tmpdir(), "sous-mem-")))
      const before = tf.memory().numTensors
      const result = yield* shortRun(mkdtempSync(join(tmpdir(), "sous-mem-")))
      assert.strictEqual(result.step, 12)
      assert.strictEqual(tf.memory().numTensors, before)
    }))
})
