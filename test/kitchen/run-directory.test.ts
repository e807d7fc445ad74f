import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { runRecipe } from "../../src/kitchen/index.js"
import { loadRecipe } from "../../src/recipes/index.js"
import { sftRecipe, shortSftSets } from "../support/short-sft.js"
import { tempDirectory } from "../support/temp-directory.js"

const twoSteps = (...sets: ReadonlyArray<string>) => loadRecipe(sftRecipe, [...shortSftSets(2, 0), "eval.batchSize=8", ...sets])

describe("runRecipe and the run directory", () => {
  it.live("refuses a finished run's directory and leaves its summary and events byte for byte", () =>
    Effect.gen(function*() {
      const runDir = yield* tempDirectory("finished")
      const recipe = yield* twoSteps()
      yield* runRecipe(recipe, { runDir })
      const files = ["summary.json", "events.jsonl", "metrics.jsonl"].map((name) => join(runDir, name))
      const before = files.map((file) => readFileSync(file))
      const again = yield* Effect.flip(runRecipe(recipe, { runDir }))
      assert.strictEqual(again._tag, "RunDirectoryError")
      assert.include(again.message, "already holds a run")
      files.forEach((file, index) => assert.isTrue(readFileSync(file).equals(before[index]!), `${file} changed`))
    }))

  it.live("leaves no directory behind when the run cannot start (a missing data file)", () =>
    Effect.gen(function*() {
      const runDir = join(yield* tempDirectory("no-start"), "run")
      const recipe = yield* twoSteps(`data.train=${join(runDir, "..", "missing.jsonl")}`)
      const error = yield* Effect.flip(runRecipe(recipe, { runDir }))
      assert.include(error.message, "missing.jsonl")
      assert.isFalse(existsSync(runDir), "the failed start wrote its run directory")
    }))
})
