import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { loadAnyRecipe } from "../../src/recipes/load-recipe.js"
import { maxRecipeBytes, maxRecipeKeys } from "../../src/recipes/parse-recipe-text.js"
import { suiteDirectory } from "../support/temp-directory.js"

const dir = suiteDirectory("recipe-size")
const file = (name: string, text: string) => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}
const problems = (path: string) => Effect.map(Effect.flip(loadAnyRecipe(path)), (error) => error.problems.map((p) => `${p.path}: ${p.message}`))
const header = "kind: supervised\ndata:\n  train: t.jsonl\nextra:\n"

describe("recipe size", () => {
  // The yaml package's own duplicate-key check, quadratic, took 12 s on 40,000 keys and 470 s
  // on these; sous's own check reads them in about 2 s. (Timed here once, not asserted: tests
  // do not fail on wall-clock time.)
  it.effect("a YAML recipe of 80,000 keys is refused for its key count", () =>
    Effect.gen(function*() {
      const keys = Array.from({ length: 80_000 }, (_, i) => `  k${i}: ${i}\n`).join("")
      const path = file("keys.yaml", header + keys)
      assert.deepStrictEqual(yield* problems(path), [`: the recipe holds more than ${maxRecipeKeys} keys; a recipe names its settings, not data`])
    }))

  it.effect("a YAML key given twice in one map is still refused, with its line", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* problems(file("twice.yaml", "kind: supervised\ndata:\n  train: t.jsonl\n  train: u.jsonl\n")), [
        ': cannot parse: the key "train" appears twice in one map (line 4)'
      ])
    }))

  it.effect("a recipe file larger than a recipe can be is refused before it is parsed", () =>
    Effect.gen(function*() {
      const path = file("large.yaml", `${header}  note: "${"x".repeat(maxRecipeBytes)}"\n`)
      const [problem] = yield* problems(path)
      assert.match(problem!, /^: the recipe file holds \d+ bytes, more than the 4194304 a recipe may hold$/)
    }))
})
