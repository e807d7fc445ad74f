import { rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { makeHfTokenizer } from "../../../src/adapters/tokenizers/hf-tokenizer.js"
import { checkAdapters, resumeRecipe, runRecipe } from "../../../src/kitchen/index.js"
import { loadRecipe } from "../../../src/recipes/load-recipe.js"
import { manifestFile, readManifest } from "../../support/run-directory.js"
import { tempDirectory } from "../../support/temp-directory.js"
import { tinyTokenizerJson } from "./tiny-hf-tokenizer.js"
import { asSupervised } from "../../support/as-supervised.js"

// Sums written in printable ASCII, which the tiny tokenizer's vocabulary spells.
const conversations = Array.from({ length: 32 }, (_, i) => {
  const [a, b] = [i % 9, (i * 7) % 11]
  return JSON.stringify({ messages: [{ role: "user", content: `${a}+${b}` }, { role: "assistant", content: `${a + b}` }] })
})

// A small model for five steps, checkpoints at steps 2 and 4 and a final one; the tokenizer
// path is relative, so it resolves against the recipe's directory.
const recipeYaml = `kind: supervised
model: { layers: 1, width: 16, heads: 2, contextLength: 48 }
tokenizer: { kind: huggingface, path: tokenizer.json }
renderer: { format: role-colon }
data: { train: train.jsonl }
training: { steps: 5, batchSize: 4 }
eval: { every: 0, batchSize: 8 }
checkpoint: { every: 2 }
backend: { device: wasm }
`

describe("a recipe with a Hugging Face tokenizer", () => {
  it.live("trains, records the tokenizer id, and resumes only with the same tokenizer.json", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirectory("hf-recipe")
      const tokenizerPath = join(dir, "tokenizer.json")
      writeFileSync(tokenizerPath, JSON.stringify(tinyTokenizerJson()))
      writeFileSync(join(dir, "train.jsonl"), conversations.join("\n") + "\n")
      writeFileSync(join(dir, "recipe.yaml"), recipeYaml)
      const recipe = asSupervised(yield* loadRecipe(join(dir, "recipe.yaml")))
      assert.strictEqual(recipe.tokenizer.path, tokenizerPath)
      const original = yield* makeHfTokenizer(tokenizerPath)

      const runDir = join(dir, "run")
      const result = yield* runRecipe(recipe, { runDir })
      assert.strictEqual(result.step, 5)
      assert.strictEqual(readManifest(runDir, "final").tokenizerId, original.id)

      // As if the run died before committing its final checkpoint: resume starts after step 4.
      rmSync(manifestFile(runDir, "final"))
      rmSync(join(runDir, "summary.json"))

      writeFileSync(tokenizerPath, JSON.stringify(tinyTokenizerJson({ extraMerge: ["a", "b"] })))
      const changed = yield* makeHfTokenizer(tokenizerPath)
      const refused = yield* Effect.exit(resumeRecipe(recipe, { runDir, fallback: false }))
      const error = Exit.findErrorOption(refused)
      if (error._tag === "None") return assert.fail("expected the resume to be refused")
      assert.strictEqual(error.value._tag, "ResumeRefusedError")
      assert.include(error.value.message, `tokenizer ${original.id} (now ${changed.id})`)

      writeFileSync(tokenizerPath, JSON.stringify(tinyTokenizerJson()))
      const resumed = yield* resumeRecipe(recipe, { runDir, fallback: false })
      assert.strictEqual(resumed.step, 5)
      assert.strictEqual(readManifest(runDir, "final").tokenizerId, original.id)

      // Token ids mean nothing across tokenizers: starting a byte-tokenizer run from this
      // checkpoint is refused, naming both.
      const fromHere = { ...recipe, tokenizer: { kind: "byte" as const }, model: { ...recipe.model, from: { store: join(runDir, "checkpoints"), checkpoint: "final" } } }
      const mismatch = Exit.findErrorOption(yield* Effect.exit(runRecipe(fromHere, { runDir: join(dir, "byte-run") })))
      if (mismatch._tag === "None") return assert.fail("expected the start from another tokenizer's checkpoint to be refused")
      assert.strictEqual(mismatch.value._tag, "InvalidRequestError")
      assert.include(mismatch.value.message, `was trained with tokenizer ${original.id}, this recipe's is byte`)
    }).pipe(Effect.scoped), 120_000)

  it.effect("is refused before the run when its path is not local: sous never downloads it", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirectory("hf-recipe")
      writeFileSync(join(dir, "recipe.yaml"), "kind: supervised\ndata: { train: t.jsonl }\ntokenizer: { kind: huggingface, path: s3://bucket/tokenizer.json }\n")
      const recipe = asSupervised(yield* loadRecipe(join(dir, "recipe.yaml")))
      const error = Exit.findErrorOption(yield* Effect.exit(checkAdapters(recipe, "recipe.yaml")))
      if (error._tag === "None") return assert.fail("expected the recipe to be refused")
      assert.deepStrictEqual(error.value.problems, [{
        path: "tokenizer.path",
        message: "sous reads tokenizer.json from a local path or file:// URI, got \"s3://bucket/tokenizer.json\""
      }])
    }).pipe(Effect.scoped))
})
