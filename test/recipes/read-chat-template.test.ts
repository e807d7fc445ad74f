import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { supervisedWorkflowConfig } from "../../src/recipes/compile-recipe.js"
import { loadRecipe } from "../../src/recipes/load-recipe.js"
import type { RecipeError } from "../../src/recipes/recipe-error.js"
import { resolvedRecipeJson } from "../../src/recipes/recipe-hash.js"
import { asSupervised } from "../support/as-supervised.js"
import { suiteDirectory } from "../support/temp-directory.js"

const dir = suiteDirectory("chat-template")
beforeAll(() => {
  mkdirSync(join(dir, "model"))
})
const file = (name: string, text: string) => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}
const jinjaRecipe = (config: string) =>
  file("recipe.yaml", `kind: supervised\ndata: { train: t.jsonl }\nrenderer: { format: jinja, chatTemplate: ${config} }\n`)

const problems = (effect: Effect.Effect<unknown, RecipeError>) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(effect)
    const error = Exit.findErrorOption(exit)
    if (error._tag === "None") return assert.fail("expected the recipe to be rejected")
    return error.value.problems
  })

describe("renderer.chatTemplate", () => {
  it.effect("reads the template and its token strings from tokenizer_config.json, relative to the recipe", () =>
    Effect.gen(function*() {
      const config = file("model/tokenizer_config.json", JSON.stringify({
        chat_template: "{{ bos_token }}{{ messages[0].content }}",
        bos_token: { __type: "AddedToken", content: "<s>", special: true },
        eos_token: "</s>"
      }))
      const recipe = asSupervised(yield* loadRecipe(jinjaRecipe("model/tokenizer_config.json")))
      const chatTemplate = { source: config, template: "{{ bos_token }}{{ messages[0].content }}", bosToken: "<s>", eosToken: "</s>" }
      assert.deepStrictEqual(recipe.renderer.chatTemplate, chatTemplate)
      const workflowConfig = supervisedWorkflowConfig(recipe)
      assert.deepStrictEqual(workflowConfig.render.chatTemplate, chatTemplate)
      assert.strictEqual(workflowConfig.rendererId, "jinja/assistant")
      // The resolved recipe holds the template itself, so it loads again without the file.
      const resolved = asSupervised(yield* loadRecipe(file("resolved.json", resolvedRecipeJson(recipe))))
      assert.deepStrictEqual(resolved.renderer, recipe.renderer)
    }))

  it.effect("takes a file:// URI, the template named default from a list, and no token strings when there are none", () =>
    Effect.gen(function*() {
      const config = file("model/list.json", JSON.stringify({ chat_template: [{ name: "tool_use", template: "T" }, { name: "default", template: "D" }] }))
      const recipe = asSupervised(yield* loadRecipe(jinjaRecipe(pathToFileURL(config).href)))
      assert.deepStrictEqual(recipe.renderer.chatTemplate, { source: config, template: "D" })
    }))

  it.effect("names the file it cannot read or use", () =>
    Effect.gen(function*() {
      const missing = join(dir, "model/missing.json")
      const [unreadable] = yield* problems(loadRecipe(jinjaRecipe("model/missing.json")))
      assert.strictEqual(unreadable?.path, "renderer.chatTemplate")
      assert.include(unreadable?.message, `cannot read ${missing}`)
      const broken = file("model/broken.json", "{")
      assert.include((yield* problems(loadRecipe(jinjaRecipe(broken))))[0]?.message, `${broken} is not JSON`)
      const templateless = file("model/templateless.json", JSON.stringify({ chat_template: [{ name: "tool_use", template: "T" }] }))
      assert.deepStrictEqual(yield* problems(loadRecipe(jinjaRecipe(templateless))), [{
        path: "renderer.chatTemplate",
        message: `${templateless} has no chat_template (a string, or a list with one named "default")`
      }])
    }))

  it.effect("is required by the jinja format and refused by the others", () =>
    Effect.gen(function*() {
      const base = file("base.yaml", "kind: supervised\ndata: { train: t.jsonl }\n")
      assert.deepStrictEqual(yield* problems(loadRecipe(base, ["renderer.format=jinja"])), [{
        path: "renderer.chatTemplate",
        message: "the jinja format needs the path of a tokenizer_config.json with a chat_template"
      }])
      // A model directory that gives no template (here: none at all) is named.
      const [withoutTemplate] = yield* problems(loadRecipe(base, ["renderer.format=jinja", "model.hf=./nope"]))
      assert.deepStrictEqual(withoutTemplate, {
        path: "renderer.chatTemplate",
        message: "the jinja format needs a chat template and model.hf \"./nope\" has no tokenizer_config.json (is it the model's directory?); give renderer.chatTemplate"
      })
      const config = file("model/plain.json", JSON.stringify({ chat_template: "T" }))
      assert.deepStrictEqual(yield* problems(loadRecipe(base, ["renderer.format=chatml", `renderer.chatTemplate=${config}`])), [{
        path: "renderer.format",
        message: "must be jinja to render with renderer.chatTemplate, got \"chatml\""
      }])
    }))
})
