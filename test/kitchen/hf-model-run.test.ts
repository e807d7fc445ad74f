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
import { hfSftRecipeYaml, sumConversations } from "../support/hf-sft-recipe.js"

// Recipes on a copy of a tiny Hugging Face fixture, its tokenizer.json beside
// the weights, so the recipe needs only the model directory and the data.
const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), "../fixtures/hf")

/** A recipe directory with a copy of fixture `name` in model/, its tokenizer and the data. */
const recipeDirectory = (name: string, lora = "") =>
  Effect.gen(function*() {
    const dir = yield* tempDirectory(`hf-${name}`)
    cpSync(join(fixtures, name), join(dir, "model"), { recursive: true })
    writeFileSync(join(dir, "model", "tokenizer.json"), JSON.stringify(tinyCharTokenizerJson()))
    writeFileSync(join(dir, "train.jsonl"), sumConversations.join("\n") + "\n")
    writeFileSync(join(dir, "recipe.yaml"), hfSftRecipeYaml({ steps: 30, lr: 0.01, model: lora }))
    return dir
  })

// Preference pairs (prefer the sum over the difference) over the same sums.
const pairs = Array.from({ length: 16 }, (_, i) => {
  const [a, b] = [i % 5, (i * 3) % 4]
  const reply = (content: string) => [{ role: "assistant", content }]
  return JSON.stringify({ prompt: [{ role: "user", content: `${a}+${b}` }], chosen: reply(`${a + b}`), rejected: reply(`${Math.abs(a - b)}`) })
})

/** Runs a recipe of `kind` (its own sections given) in a directory like {@link recipeDirectory}'s. */
const runKind = (kind: string, sections: string, data: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const dir = yield* recipeDirectory("qwen3")
    writeFileSync(join(dir, "train.jsonl"), data.join("\n") + "\n")
    writeFileSync(join(dir, "recipe.yaml"), hfSftRecipeYaml({ steps: 4, lr: 0.01 }).replace("kind: supervised", `kind: ${kind}`) + sections)
    const runDir = join(dir, "run")
    yield* runRecipe(yield* loadRecipe(join(dir, "recipe.yaml")), { runDir })
    return readMetrics(runDir)
  })

describe("recipes on a Hugging Face model directory", () => {
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

  it.live("runs preference and RL recipes too: the reference model and the rollouts come from the directory", () =>
    Effect.gen(function*() {
      const preference = yield* runKind("preference", "preference: { beta: 0.1 }\n", pairs)
      assert.strictEqual(preference.length, 4)
      assert.isTrue(preference.every((line) => Number.isFinite(line.loss)))
      // At step 1 the policy is the reference (the directory's weights): DPO's loss is log 2.
      assert.approximately(preference[0]!.loss!, Math.log(2), 1e-4)
      const rl = yield* runKind("rl", "env: { builtin: arithmetic }\nrl: { groupSize: 4, maxTokens: 3 }\n", sumConversations)
      assert.strictEqual(rl.length, 4)
      // Every step sampled its rollouts from the model: 8 groups of 4, at most 3 tokens each.
      assert.isTrue(rl.every((line) => line.sampled_tokens! > 0 && line.sampled_tokens! <= 8 * 4 * 3), JSON.stringify(rl))
    }), 60_000)
})
