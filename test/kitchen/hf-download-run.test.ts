import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { checkRecipe } from "../../src/kitchen/checks.js"
import { runRecipe } from "../../src/kitchen/index.js"
import { decodeRecipe } from "../../src/recipes/decode-recipe.js"
import { loadRecipe } from "../../src/recipes/load-recipe.js"
import { recipeHash, resolvedRecipeJson } from "../../src/recipes/recipe-hash.js"
import { asSupervised } from "../support/as-supervised.js"
import { hubServer } from "../support/hub-server.js"
import { readManifest, readMetrics, readRecipe } from "../support/run-directory.js"
import { tempDirectory } from "../support/temp-directory.js"
import { tinyCharTokenizerJson } from "../support/tiny-char-tokenizer.js"
import { hfSftRecipeYaml, sumConversations } from "../support/hf-sft-recipe.js"

// A recipe whose model.hf is hf://org/tiny@main, served by the stand-in Hub (found through
// HF_ENDPOINT) from the sharded fixture with the tiny char tokenizer beside it, and cached
// under SOUS_HF_CACHE in the test's directory. Both variables come from a ConfigProvider:
// Effect reads process.env once, so a test cannot change them there.
const fixture = resolve(dirname(fileURLToPath(import.meta.url)), "../fixtures/hf/llama-bf16-sharded")

const fixtureFiles = Object.fromEntries(readdirSync(fixture).map((name) => [name, new Uint8Array(readFileSync(join(fixture, name)))]))

// A chat template in the char tokenizer's alphabet, as a model's tokenizer_config.json holds it.
const tokenizerConfig = {
  bos_token: "<|bos|>",
  eos_token: "<|eos|>",
  chat_template: "{{ bos_token }}{% for message in messages %}{{ message['role'] + ': ' + message['content'] + eos_token + '\\n' }}{% endfor %}"
}

/** The served repos: org/tiny, the fixture with the char tokenizer; org/chat, that and a tokenizer_config.json. */
const setup = (hf: string, renderer = "role-colon") =>
  Effect.gen(function*() {
    const server = yield* hubServer()
    const files = { ...fixtureFiles, "tokenizer.json": JSON.stringify(tinyCharTokenizerJson()) }
    server.seed("org/tiny", "model", files)
    server.seed("org/chat", "model", { ...files, "tokenizer_config.json": JSON.stringify(tokenizerConfig) })
    const dir = yield* tempDirectory("hf-download-run")
    writeFileSync(join(dir, "train.jsonl"), sumConversations.join("\n") + "\n")
    writeFileSync(join(dir, "recipe.yaml"), hfSftRecipeYaml({ hf, steps: 10, lr: 0.01 }).replace("format: role-colon", `format: ${renderer}`))
    const downloads = () => server.requests().filter((request) => request.includes("/resolve/")).length
    const environment = ConfigProvider.layer(ConfigProvider.fromEnv({ env: { HF_ENDPOINT: server.url, SOUS_HF_CACHE: join(dir, "cache") } }))
    const run = (runDir: string) =>
      Effect.flatMap(loadRecipe(join(dir, "recipe.yaml")), (recipe) =>
        runRecipe(recipe, { runDir: join(dir, runDir), newRun: { resolvedRecipe: resolvedRecipeJson(recipe), overwrite: false } })).pipe(Effect.provide(environment))
    const check = Effect.flatMap(loadRecipe(join(dir, "recipe.yaml")), (recipe) => checkRecipe(recipe, "recipe")).pipe(Effect.provide(environment))
    return { server, dir, downloads, run, check }
  })

describe("recipes on an hf:// model", () => {
  it.live("downloads the model once, trains it, and pins the commit in recipe.json and the checkpoints' recipe hash", () =>
    Effect.gen(function*() {
      const { server, dir, downloads, run, check } = yield* setup("hf://org/tiny@main")
      // validate's check downloads and reads the model too (and the run then fetches nothing more).
      yield* check
      const recipe = asSupervised(yield* loadRecipe(join(dir, "recipe.yaml")))
      assert.strictEqual(recipe.model.hf, "hf://org/tiny@main")
      yield* run("run1")
      const losses = readMetrics(join(dir, "run1")).map((line) => line.loss!)
      assert.strictEqual(losses.length, 10)
      assert.isBelow(losses.at(-1)!, losses[0]!, `${losses[0]} → ${losses.at(-1)}`)
      const head = server.commits("org/tiny").at(-1)!.oid
      assert.isTrue(existsSync(join(dir, "cache", "org", "tiny", head, "model-00003-of-00003.safetensors")))
      // The hash is the recipe's with model.hf pinned to the commit main resolved to.
      const pinned = { ...recipe, model: { ...recipe.model, hf: `hf://org/tiny@${head}` } }
      assert.strictEqual(readManifest(join(dir, "run1"), "final").recipeHash, recipeHash(pinned))
      assert.strictEqual((readRecipe(join(dir, "run1")).model as { readonly hf?: string }).hf, `hf://org/tiny@${head}`)

      const afterFirst = downloads()
      assert.isAbove(afterFirst, 0)
      yield* run("run2")
      assert.strictEqual(downloads(), afterFirst, "the second run fetched files")
      assert.deepStrictEqual(readMetrics(join(dir, "run2")).map((line) => line.loss!), losses)
    }), 60_000)

  it.live("renders with the chat template of the downloaded tokenizer_config.json, as for a local directory, and records it in recipe.json and the hash", () =>
    Effect.gen(function*() {
      const { server, dir, run } = yield* setup("hf://org/chat", "jinja")
      const head = server.commits("org/chat").at(-1)!.oid
      yield* run("hub")
      const template = { source: `hf://org/chat@${head}/tokenizer_config.json`, template: tokenizerConfig.chat_template, bosToken: "<|bos|>", eosToken: "<|eos|>" }
      const written = readRecipe(join(dir, "hub"))
      assert.deepStrictEqual((written["renderer"] as { readonly chatTemplate?: unknown }).chatTemplate, template)
      assert.strictEqual(readManifest(join(dir, "hub"), "final").recipeHash, recipeHash(yield* decodeRecipe(written, "recipe.json")))

      // The same files as a local directory: loading reads the same template, and the run trains the same.
      const local = join(dir, "cache", "org", "chat", head)
      writeFileSync(join(dir, "local.yaml"), readFileSync(join(dir, "recipe.yaml"), "utf8").replace("hf://org/chat", local))
      const recipe = asSupervised(yield* loadRecipe(join(dir, "local.yaml")))
      assert.deepStrictEqual(recipe.renderer.chatTemplate, { ...template, source: join(local, "tokenizer_config.json") })
      yield* runRecipe(recipe, { runDir: join(dir, "local") })
      const losses = (runDir: string) => readMetrics(join(dir, runDir)).map((line) => line.loss!)
      assert.deepStrictEqual(losses("hub"), losses("local"))
      assert.isBelow(losses("hub").at(-1)!, losses("hub")[0]!)
    }), 60_000)

  it.live("refuses jinja on a downloaded model without tokenizer_config.json, naming the pinned repo", () =>
    Effect.gen(function*() {
      const { server, dir, run, check } = yield* setup("hf://org/tiny", "jinja")
      const head = server.commits("org/tiny").at(-1)!.oid
      const error = yield* Effect.flip(check)
      assert.strictEqual(error.message, yield* Effect.map(Effect.flip(run("run")), (failure) => failure.message))
      assert.include(error.message, `renderer.chatTemplate: the jinja format needs a chat template and hf://org/tiny@${head} has no tokenizer_config.json; give renderer.chatTemplate`)
      assert.isFalse(existsSync(join(dir, "run")))
    }), 30_000)

  it.live("refuses an unknown repo before writing the run directory, and so does validate's check", () =>
    Effect.gen(function*() {
      const { dir, run, check } = yield* setup("hf://org/unknown")
      const error = yield* Effect.flip(run("run"))
      assert.match(error.message, /model\.hf: resolve revision main on hf:\/\/org\/unknown failed: HTTP 404/)
      assert.isFalse(existsSync(join(dir, "run")))
      assert.strictEqual((yield* Effect.flip(check)).message, error.message)
    }), 30_000)
})
