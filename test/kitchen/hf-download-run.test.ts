import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { checkRecipe } from "../../src/kitchen/checks.js"
import { runRecipe } from "../../src/kitchen/index.js"
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

const setup = (hf: string) =>
  Effect.gen(function*() {
    const server = yield* hubServer()
    server.seed("org/tiny", "model", {
      ...Object.fromEntries(readdirSync(fixture).map((name) => [name, new Uint8Array(readFileSync(join(fixture, name)))])),
      "tokenizer.json": JSON.stringify(tinyCharTokenizerJson())
    })
    const dir = yield* tempDirectory("hf-download-run")
    writeFileSync(join(dir, "train.jsonl"), sumConversations.join("\n") + "\n")
    writeFileSync(join(dir, "recipe.yaml"), hfSftRecipeYaml({ hf, steps: 10, lr: 0.01 }))
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

  it.live("refuses an unknown repo before writing the run directory, and so does validate's check", () =>
    Effect.gen(function*() {
      const { dir, run, check } = yield* setup("hf://org/unknown")
      const error = yield* Effect.flip(run("run"))
      assert.match(error.message, /model\.hf: resolve revision main on hf:\/\/org\/unknown failed: HTTP 404/)
      assert.isFalse(existsSync(join(dir, "run")))
      assert.strictEqual((yield* Effect.flip(check)).message, error.message)
    }), 30_000)
})
