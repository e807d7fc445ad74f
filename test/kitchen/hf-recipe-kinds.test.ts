import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger } from "effect"
import { cpSync, writeFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { runRecipe } from "../../src/kitchen/index.js"
import { runPipeline } from "../../src/kitchen/run-pipeline.js"
import type { PipelineRecipe } from "../../src/recipes/pipeline-recipe.js"
import { loadAnyRecipe, loadRecipe } from "../../src/recipes/load-recipe.js"
import { hfSftRecipeYaml, sumConversations } from "../support/hf-sft-recipe.js"
import { readMetrics, readRecipe, readSummary } from "../support/run-directory.js"
import { tempDirectory } from "../support/temp-directory.js"
import { tinyCharTokenizerJson } from "../support/tiny-char-tokenizer.js"

// The recipe kinds not covered by hf-model-run.test.ts on a Hugging Face model directory:
// distillation (an HF student, its teacher a checkpoint of the same model), a pipeline
// whose stages name model.hf, and classify, which refuses model.hf.

const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), "../fixtures/hf")

/**
 * A directory with a copy of the Qwen3 fixture in model/ and the sums as data. The char
 * tokenizer has fewer ids than the model's head (96), as Qwen's real one does: sampling must
 * draw only ids the tokenizer (and so the teacher) knows.
 */
const recipeDirectory = Effect.gen(function*() {
  const dir = yield* tempDirectory("hf-kinds")
  cpSync(join(fixtures, "qwen3"), join(dir, "model"), { recursive: true })
  writeFileSync(join(dir, "model", "tokenizer.json"), JSON.stringify(tinyCharTokenizerJson()))
  writeFileSync(join(dir, "train.jsonl"), sumConversations.join("\n") + "\n")
  return dir
})

// Preference pairs (prefer the sum over the difference) over the same sums.
const pairs = Array.from({ length: 16 }, (_, i) => {
  const [a, b] = [i % 5, (i * 3) % 4]
  const reply = (content: string) => [{ role: "assistant", content }]
  return JSON.stringify({ prompt: [{ role: "user", content: `${a}+${b}` }], chosen: reply(`${a + b}`), rejected: reply(`${Math.abs(a - b)}`) })
})

/** The recipe's YAML: the tiny SFT recipe on model/, turned into `kind` with its own `sections`. */
const kindYaml = (kind: string, steps: number, sections = "") =>
  hfSftRecipeYaml({ steps, lr: 0.01 }).replace("kind: supervised", `kind: ${kind}`) + sections

describe("more recipe kinds on a Hugging Face model directory", () => {
  it.live("distills a teacher checkpoint of the model into the model: the held-out reverse KL falls", () =>
    Effect.gen(function*() {
      const dir = yield* recipeDirectory
      writeFileSync(join(dir, "sft.yaml"), kindYaml("supervised", 6))
      yield* runRecipe(yield* loadRecipe(join(dir, "sft.yaml")), { runDir: join(dir, "teacher") })
      const distill = kindYaml("distill", 4, "teacher: { store: teacher/checkpoints }\ndistill: { groupSize: 2, maxTokens: 3 }\n")
        .replace("eval: { every: 0", "eval: { every: 4")
      writeFileSync(join(dir, "distill.yaml"), distill)
      yield* runRecipe(yield* loadRecipe(join(dir, "distill.yaml")), { runDir: join(dir, "distill") })
      const metrics = readMetrics(join(dir, "distill"))
      assert.strictEqual(metrics.length, 4)
      // Each step the student sampled replies (8 prompts, 2 each, at most 3 tokens) that the teacher scored.
      assert.isTrue(metrics.every((line) => Number.isFinite(line["reverse_kl"]) && line["reply_tokens"]! > 0 && line["reply_tokens"]! <= 3), JSON.stringify(metrics))
      const { firstEval, lastEval } = readSummary(join(dir, "distill"))
      assert.isBelow(lastEval.metrics["eval_reverse_kl"]!, firstEval.metrics["eval_reverse_kl"]!)
    }), 60_000)

  it.live("runs a pipeline of SFT then DPO on model.hf: the DPO stage starts from the SFT stage's final checkpoint", () =>
    Effect.gen(function*() {
      const dir = yield* recipeDirectory
      writeFileSync(join(dir, "pairs.jsonl"), pairs.join("\n") + "\n")
      writeFileSync(join(dir, "sft.yaml"), kindYaml("supervised", 4))
      writeFileSync(join(dir, "dpo.yaml"), kindYaml("preference", 3, "preference: { beta: 0.1 }\n").replace("train: train.jsonl", "train: pairs.jsonl"))
      writeFileSync(join(dir, "pipeline.yaml"), "kind: pipeline\nstages:\n  - { name: sft, recipe: sft.yaml }\n  - { name: dpo, recipe: dpo.yaml }\n")
      const pipeline = (yield* loadAnyRecipe(join(dir, "pipeline.yaml"))) as PipelineRecipe
      const logs: Array<string> = []
      const capture = Logger.make(({ message }) => {
        logs.push(([] as Array<unknown>).concat(message).join(" "))
      })
      const steps = yield* runPipeline(pipeline, { runDir: join(dir, "run") }).pipe(Effect.provide(Logger.layer([capture])))
      assert.deepStrictEqual(steps.map((stage) => [stage.name, stage.steps]), [["sft", 4], ["dpo", 3]])
      const store = join(dir, "run", "sft", "checkpoints")
      assert.deepStrictEqual(readRecipe(join(dir, "run", "dpo")).model.from, { store, checkpoint: "final" })
      assert.include(logs, `starting from checkpoint final of ${store}`)
      const dpo = readMetrics(join(dir, "run", "dpo")).map((line) => line.loss!)
      // The starting weights are DPO's reference too: at step 1 the loss is log 2.
      assert.approximately(dpo[0]!, Math.log(2), 1e-4)
      assert.isTrue(dpo.every(Number.isFinite))
    }), 60_000)

  // Loading is where `sous validate` (and run) refuse it: the CLI's exit and printing of a
  // RecipeError are tested in test/cli.
  it.effect("refuses model.hf in a classify recipe when it loads, saying which kinds take one", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirectory("hf-classify")
      writeFileSync(join(dir, "rows.jsonl"), `${JSON.stringify({ features: [0, 1], label: 1 })}\n`)
      for (const model of ["{ kind: mlp, hf: ./model }", "{ hf: \"hf://org/name\" }"]) {
        writeFileSync(join(dir, "recipe.yaml"), `kind: classify\nmodel: ${model}\ndata: { train: rows.jsonl, inputShape: [2], classes: 2 }\n`)
        const error = yield* Effect.flip(loadAnyRecipe(join(dir, "recipe.yaml")))
        // The refusal stands in for the schema's own words ("excess property", no union member matched).
        assert.deepStrictEqual(error.problems, [{
          path: "model.hf",
          message: "a classify recipe trains an mlp or cnn from scratch on feature rows; a Hugging Face model trains with a supervised, preference, rl or distill recipe"
        }], model)
      }
    }))
})
