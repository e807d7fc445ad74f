import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { loadAnyRecipe } from "../../src/recipes/load-recipe.js"
import { suiteDirectory } from "../support/temp-directory.js"

const dir = suiteDirectory("recipe-messages")
const file = (name: string, text: string) => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

/** The problems of a recipe that fails to load, as `path: message` lines. */
const problems = (path: string, sets: ReadonlyArray<string> = []) =>
  Effect.map(Effect.flip(loadAnyRecipe(path, sets)), (error) => error.problems.map((p) => `${p.path}: ${p.message}`))

describe("recipe messages", () => {
  it.effect("an empty data path is named by its field, not read as the recipe's directory", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* problems(file("empty-train.yaml", "kind: supervised\ndata:\n  train: ''\n")), [
        'data.train: expected a non-empty path, got ""'
      ])
      assert.deepStrictEqual(yield* problems(file("blank-eval.yaml", "kind: supervised\ndata:\n  train: t.jsonl\n  eval: '  '\n")), [
        'data.eval: expected a non-empty path, got "  "'
      ])
    }))

  it.effect("a misspelt key says which key was meant", () =>
    Effect.gen(function*() {
      const found = yield* problems(file("typo.yaml", "kind: supervised\noptimiser:\n  lr: 0.1\ndata:\n  train: t.jsonl\n  shufle: false\n"))
      assert.deepStrictEqual(found, [
        'optimiser: expected no excess property; did you mean "optimizer"?',
        'data.shufle: expected no excess property; did you mean "shuffle"?'
      ])
      // Nothing close: no guess.
      assert.deepStrictEqual(yield* problems(file("far.yaml", "kind: supervised\nwhatever: 1\ndata:\n  train: t.jsonl\n")), [
        "whatever: expected no excess property"
      ])
    }))

  it.effect("NaN and Infinity are printed as themselves, not as null", () =>
    Effect.gen(function*() {
      const found = yield* problems(file("nan.yaml", "kind: supervised\ndata:\n  train: t.jsonl\n"), ["optimizer.lr=.nan", "training.batchSize=.inf"])
      assert.include(found, "optimizer.lr: expected a finite number, got NaN")
      assert.include(found, "training.batchSize: expected an integer, got Infinity")
    }))

  it.effect("JSON and YAML recipes both drop a byte order mark and both refuse a __proto__ key", () =>
    Effect.gen(function*() {
      for (const [name, text] of [["bom.json", '{"kind": "supervised", "data": {"train": "t.jsonl"}}'], ["bom.yaml", "kind: supervised\ndata:\n  train: t.jsonl\n"]]) {
        const recipe = yield* loadAnyRecipe(file(name!, `\uFEFF${text}`))
        assert.strictEqual(recipe.kind, "supervised")
      }
      const refused = 'data.__proto__: a recipe key cannot be "__proto__" (it names an object\'s prototype, not a field)'
      assert.deepStrictEqual(yield* problems(file("proto.json", '{"kind": "supervised", "data": {"train": "t.jsonl", "__proto__": {"eval": "x"}}}')), [refused])
      assert.deepStrictEqual(yield* problems(file("proto.yaml", "kind: supervised\ndata:\n  train: t.jsonl\n  __proto__:\n    eval: x\n")), [refused])
    }))
})
