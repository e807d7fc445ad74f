import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { cpSync, writeFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { checkAdapters } from "../../src/kitchen/index.js"
import { loadRecipe } from "../../src/recipes/load-recipe.js"
import { asSupervised } from "../support/as-supervised.js"
import { tempDirectory } from "../support/temp-directory.js"
import { tinyCharTokenizerJson } from "../support/tiny-char-tokenizer.js"

const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), "../fixtures/hf")

/** A recipe file of the lines given, beside a copy of the llama fixture (with a tokenizer.json) in model/. */
const recipeFile = (lines: string) =>
  Effect.gen(function*() {
    const dir = yield* tempDirectory("hf-recipe")
    cpSync(join(fixtures, "llama"), join(dir, "model"), { recursive: true })
    writeFileSync(join(dir, "model", "tokenizer.json"), JSON.stringify(tinyCharTokenizerJson()))
    writeFileSync(join(dir, "train.jsonl"), `{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]}\n`)
    writeFileSync(join(dir, "recipe.yaml"), `kind: supervised\ndata: { train: train.jsonl }\n${lines}\n`)
    return { dir, file: join(dir, "recipe.yaml") }
  })

/** The problems loading (then checking) a recipe reports, as `path: message` lines. */
const problems = (lines: string, check = false) =>
  Effect.gen(function*() {
    const { file } = yield* recipeFile(lines)
    const error = yield* Effect.flip(Effect.flatMap(loadRecipe(file), (recipe) => check ? checkAdapters(recipe, file) : Effect.void))
    return error._tag === "RecipeError" ? error.problems.map((p) => `${p.path}: ${p.message}`) : [error.message]
  })

describe("model.hf in a recipe", () => {
  it.live("is refused beside shape fields other than the defaults (which a run's recipe.json holds) and from a store other than a directory or hf://; lora.targets needs it", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* problems("model: { hf: model, width: 32, layers: 3 }"), [
        "model.layers: the model's config.json gives its shape; remove model.layers when model.hf is set",
        "model.width: the model's config.json gives its shape; remove model.width when model.hf is set"
      ])
      const [hub] = yield* problems("model: { hf: s3://bucket/model }")
      assert.include(hub, "model.hf: sous reads Hugging Face models from a local directory")
      assert.deepStrictEqual(yield* problems("model: { lora: { rank: 2, targets: [q_proj] } }"), [
        "model.lora.targets: names Hugging Face modules, which a model.hf model has; sous's own transformer takes trainAttn, trainMlp and trainUnembed"
      ])
    }))

  it.live("is checked against the directory: LoRA targets with a did-you-mean, the context and the tokenizer against the model", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* problems("model: { hf: model, lora: { rank: 2, targets: [q_proj, up_prj] } }", true), [
        `model.lora: lora.targets: "up_prj" is not a module of LlamaForCausalLM; did you mean "up_proj"?`
      ])
      const [context] = yield* problems("model: { hf: model, contextLength: 100 }", true)
      assert.match(context!, /^model\.hf: contextLength 100 exceeds the 64 positions of the model at /)
      const [vocab] = yield* problems("model: { hf: model }\ntokenizer: { kind: byte }", true)
      assert.match(vocab!, /^model\.hf: the tokenizer has 261 ids, more than the model's vocab_size 96 /)
    }))

  it.live("takes the directory's tokenizer.json and chat template when the recipe gives none", () =>
    Effect.gen(function*() {
      const { dir, file } = yield* recipeFile("model: { hf: model }\nrenderer: { format: jinja }")
      writeFileSync(join(dir, "model", "tokenizer_config.json"), JSON.stringify({ chat_template: "{{ messages }}", eos_token: "<|eos|>" }))
      const recipe = asSupervised(yield* loadRecipe(file))
      assert.strictEqual(recipe.model.hf, join(dir, "model"))
      assert.deepStrictEqual(recipe.tokenizer, { kind: "huggingface", path: join(dir, "model", "tokenizer.json") })
      assert.deepStrictEqual(recipe.renderer.chatTemplate, {
        source: join(dir, "model", "tokenizer_config.json"),
        template: "{{ messages }}",
        eosToken: "<|eos|>"
      })
      // A tokenizer the recipe names wins.
      writeFileSync(file, "kind: supervised\ndata: { train: train.jsonl }\nmodel: { hf: model }\ntokenizer: { kind: byte }\n")
      assert.deepStrictEqual(asSupervised(yield* loadRecipe(file)).tokenizer, { kind: "byte" })
    }))

  it.live("leaves a recipe without it as it was: no hf key, no lora targets, in the resolved form the hash reads", () =>
    Effect.gen(function*() {
      const { file } = yield* recipeFile("model: { lora: { rank: 2 } }")
      const recipe = asSupervised(yield* loadRecipe(file))
      assert.deepStrictEqual(Object.keys(recipe.model).sort(), ["base", "contextLength", "heads", "layers", "lora", "width"])
      assert.deepStrictEqual(Object.keys(recipe.model.lora!).sort(), ["alpha", "rank", "trainAttn", "trainMlp", "trainUnembed"])
    }))
})
