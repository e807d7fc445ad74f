import { join } from "node:path"
import * as tf from "@tensorflow/tfjs"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { runRecipe } from "../../src/kitchen/index.js"
import { loadRecipe } from "../../src/recipes/index.js"
import { root } from "../cli/run-cli.js"
import { readCheckpointState, readMetrics } from "../support/run-directory.js"
import { tempDirectory } from "../support/temp-directory.js"

// Twelve steps of the example, with an eval and a checkpoint on the way: enough to cross
// every stage of the supervised workflow.
const shortRun = (runDir: string) =>
  Effect.gen(function*() {
    const recipe = yield* loadRecipe(join(root, "examples/sft-arithmetic/recipe.yaml"), [
      "training.steps=12", "optimizer.warmupSteps=2", "eval.every=6", "checkpoint.every=6", "backend.device=wasm", "eval.batchSize=50"
    ])
    return yield* runRecipe(recipe, { runDir })
  })

const losses = (runDir: string) => readMetrics(runDir).map((line) => line.loss)

describe("runRecipe", () => {
  it.live("is deterministic: same recipe and seed, bit-identical final state and losses", () =>
    Effect.gen(function*() {
      const [first, second] = [yield* tempDirectory("det"), yield* tempDirectory("det")]
      yield* shortRun(first)
      yield* shortRun(second)
      assert.deepStrictEqual(losses(first), losses(second))
      assert.strictEqual(losses(first).length, 12)
      assert.isTrue(readCheckpointState(first).equals(readCheckpointState(second)), "final states differ")
    }))

  it.live("leaves no tensor behind: the live tensor count returns to where it started", () =>
    Effect.gen(function*() {
      yield* shortRun(yield* tempDirectory("mem"))
      const before = tf.memory().numTensors
      const result = yield* shortRun(yield* tempDirectory("mem"))
      assert.strictEqual(result.step, 12)
      assert.strictEqual(tf.memory().numTensors, before)
    }))
})
