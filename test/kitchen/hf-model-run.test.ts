import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { cpSync, writeFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { runRecipe } from "../../src/kitchen/index.js"
import { loadRecipe } from "../../src/recipes/load-recipe.js"
import { asSupervised } from "../support/as-supervised.js"
import { readMetrics, readSummary } from "../support/run-directory.js"
import { tempDirectory } from "../support/temp-directory.js"
import { tinyCharTokenizerJson } from "../support/tiny-char-tokenizer.js"

// A supervised recipe on a copy of a tiny Hugging Face fixture, its tokenizer.json beside
// the weights, so the recipe needs only the model directory and the data.
const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), "../fixtures/hf")

const conversations = Array.from({ length: 24 }, (_, i) => {
  const [a, b] = [i % 5, (i * 3) % 4]
  return JSON.stringify({ messages: [{ role: "user", content: `${a}+${b}` }, { role: "assistant", content: `${a + b}` }] })
})

const recipeYaml = (lora: string) => `kind: supervised
model: { hf: model, contextLength: 32${lora} }
renderer: { format: role-colon }
data: { train: train.jsonl, shuffle: false }
training: { steps: 30, batchSize: 8 }
optimizer: { lr: 0.01, schedule: constant }
eval: { every: 0, batchSize: 8 }
backend: { device: wasm, threads: 1 }
`

/** A recipe directory with a copy of fixture `name` in model/, its tokenizer and the data. */
const recipeDirectory = (name: string, lora = "") =>
  Effect.gen(function*() {
    const dir = yield* tempDirectory(`hf-${name}`)
    cpSync(join(fixtures, name), join(dir, "model"), { recursive: true })
    writeFileSync(join(dir, "model", "tokenizer.json"), JSON.stringify(tinyCharTokenizerJson()))
    writeFileSync(join(dir, "train.jsonl"), conversations.join("\n") + "\n")
    writeFileSync(join(dir, "recipe.yaml"), recipeYaml(lora))
    return dir
  })

describe("a supervised recipe on a Hugging Face model directory", () => {
  it.live("takes the directory's tokenizer and trains Llama and GPT-2: the loss falls by half in 30 steps", () =>
    Effect.gen(function*() {
      for (const name of ["llama", "gpt2"]) {
        const dir = yield* recipeDirectory(name)
        const recipe = asSupervised(yield* loadRecipe(join(dir, "recipe.yaml")))
        assert.strictEqual(recipe.model.hf, join(dir, "model"))
        assert.deepStrictEqual(recipe.tokenizer, { kind: "huggingface", path: join(dir, "model", "tokenizer.json") })
        const runDir = join(dir, "run")
        yield* runRecipe(recipe, { runDir })
        const losses = readMetrics(runDir).map((line) => line.loss!)
        assert.strictEqual(losses.length, 30)
        assert.isBelow(losses.at(-1)!, losses[0]! / 2, `${name}: ${losses[0]} → ${losses.at(-1)}`)
        const { firstEval, lastEval } = readSummary(runDir)
        // Held-out rows (a tenth of the data) improve too: the base weights were a real start.
        assert.isBelow(lastEval.metrics["eval_nll"]!, firstEval.metrics["eval_nll"]!, name)
      }
    }), 60_000)

  it.live("trains LoRA on the modules it names", () =>
    Effect.gen(function*() {
      const dir = yield* recipeDirectory("llama", ", lora: { rank: 4, targets: [q_proj, k_proj, v_proj, o_proj] }")
      const recipe = asSupervised(yield* loadRecipe(join(dir, "recipe.yaml")))
      const runDir = join(dir, "run")
      yield* runRecipe(recipe, { runDir })
      const losses = readMetrics(runDir).map((line) => line.loss!)
      assert.isBelow(losses.at(-1)!, losses[0]! * 0.75, `${losses[0]} → ${losses.at(-1)}`)
    }), 60_000)
})
