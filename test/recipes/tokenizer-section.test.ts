import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { loadRecipe } from "../../src/recipes/load-recipe.js"
import { asSupervised } from "../support/as-supervised.js"
import { suiteDirectory } from "../support/temp-directory.js"

const dir = suiteDirectory("tokenizer-section")
const recipeFile = (name: string, tokenizer: string) => {
  const path = join(dir, name)
  writeFileSync(path, `kind: supervised\ndata: { train: t.jsonl }\ntokenizer: ${tokenizer}\n`)
  return path
}

const problems = (path: string) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(loadRecipe(path))
    const error = Exit.findErrorOption(exit)
    if (error._tag === "None") return assert.fail("expected the recipe to be rejected")
    return error.value.problems
  })

describe("the tokenizer section", () => {
  it.effect("is the byte tokenizer by default", () =>
    Effect.gen(function*() {
      const recipe = asSupervised(yield* loadRecipe(recipeFile("default.yaml", "{}")))
      assert.deepStrictEqual(recipe.tokenizer, { kind: "byte" })
    }))

  it.effect("resolves a huggingface tokenizer's path against the recipe's directory, like data paths", () =>
    Effect.gen(function*() {
      const relative = asSupervised(yield* loadRecipe(recipeFile("relative.yaml", "{ kind: huggingface, path: tok/tokenizer.json }")))
      assert.deepStrictEqual(relative.tokenizer, { kind: "huggingface", path: join(dir, "tok/tokenizer.json") })
      const absolute = asSupervised(yield* loadRecipe(recipeFile("absolute.yaml", "{ kind: huggingface, path: /models/tokenizer.json }")))
      assert.strictEqual(absolute.tokenizer.path, "/models/tokenizer.json")
    }))

  it.effect("needs a path for a huggingface tokenizer and refuses one for the byte tokenizer", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* problems(recipeFile("no-path.yaml", "{ kind: huggingface }")), [
        { path: "tokenizer.path", message: "a huggingface tokenizer needs the path of its tokenizer.json" }
      ])
      assert.deepStrictEqual(yield* problems(recipeFile("byte-path.yaml", "{ kind: byte, path: tokenizer.json }")), [
        { path: "tokenizer.path", message: "the byte tokenizer reads no file; set tokenizer.kind: huggingface to use one" }
      ])
      const [unknown] = yield* problems(recipeFile("kind.yaml", "{ kind: sentencepiece }"))
      assert.strictEqual(unknown?.path, "tokenizer.kind")
    }))
})
