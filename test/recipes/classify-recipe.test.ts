import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { checkData } from "../../src/kitchen/index.js"
import { compileRecipe } from "../../src/recipes/compile-recipe.js"
import { loadRecipe } from "../../src/recipes/load-recipe.js"
import { validateWorkflow } from "../../src/workflows/index.js"
import { suiteDirectory } from "../support/temp-directory.js"

const dir = suiteDirectory("classify-recipe")
const file = (name: string, text: string) => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}
const recipe = (model: string, data = "{ train: t.jsonl, inputShape: [2, 2, 1], classes: 3 }") =>
  file(`r-${Math.random().toString(36).slice(2)}.yaml`, `kind: classify\nmodel: ${model}\ndata: ${data}\n`)

const problems = (path: string) =>
  Effect.gen(function*() {
    const error = Exit.findErrorOption(yield* Effect.exit(loadRecipe(path)))
    if (error._tag === "None") return assert.fail("expected the recipe to be rejected")
    return error.value.problems
  })

/** The message of the error `checkData` fails with on the recipe over rows `lines`. */
const dataError = (lines: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const train = file(`d-${Math.random().toString(36).slice(2)}.jsonl`, lines.join("\n") + "\n")
    const loaded = yield* loadRecipe(recipe("{ kind: mlp, hidden: [4] }", `{ train: ${train}, inputShape: [2, 2], classes: 3 }`))
    const error = Exit.findErrorOption(yield* Effect.exit(checkData(loaded)))
    if (error._tag === "None") return assert.fail("expected the data to be rejected")
    return { train, error: error.value as { _tag: string; uri?: string; line?: number; message: string } }
  })

describe("the classify recipe kind", () => {
  it.effect("decodes an mlp or cnn over the data's shape, with the shared sections' defaults", () =>
    Effect.gen(function*() {
      const mlp = yield* loadRecipe(recipe("{ kind: mlp, hidden: [16] }"))
      assert.strictEqual(mlp.kind, "classify")
      if (mlp.kind !== "classify") return
      assert.deepStrictEqual(mlp.model, { kind: "mlp", hidden: [16] })
      assert.deepStrictEqual(mlp.data.inputShape, [2, 2, 1])
      assert.strictEqual(mlp.data.train, join(dir, "t.jsonl"))
      assert.strictEqual(mlp.optimizer.lr, 1e-3)
      assert.strictEqual(mlp.training.batchSize, 16)
      const cnn = yield* loadRecipe(recipe("{ kind: cnn, filters: [4] }"))
      assert.deepStrictEqual(cnn.model, { kind: "cnn", filters: [4], kernelSize: 3, hidden: [64] })
    }))

  it.effect("refuses an unknown kind or none, naming the kinds there are", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* problems(file("unknown.yaml", "kind: regress\ndata: { train: t.jsonl }\n")), [
        { path: "kind", message: "expected one of \"supervised\", \"classify\", \"preference\", \"rl\", \"distill\", got \"regress\"" }
      ])
      assert.deepStrictEqual(yield* problems(file("none.yaml", "data: { train: t.jsonl }\n")), [
        { path: "kind", message: "expected one of \"supervised\", \"classify\", \"preference\", \"rl\", \"distill\", got none" }
      ])
    }))

  it.effect("refuses supervised-only sections, a cnn over an input that is not [height, width, channels], and a missing shape", () =>
    Effect.gen(function*() {
      const renderer = yield* problems(file("renderer.yaml", "kind: classify\nmodel: { kind: mlp }\ndata: { train: t.jsonl, inputShape: [4], classes: 2 }\nrenderer: { format: chatml }\n"))
      assert.deepStrictEqual(renderer.map((p) => p.path), ["renderer"])
      assert.deepStrictEqual(yield* problems(recipe("{ kind: cnn, filters: [4] }", "{ train: t.jsonl, inputShape: [4, 4], classes: 3 }")), [
        { path: "data.inputShape", message: "a cnn takes [height, width, channels], got [4,4]" }
      ])
      const missing = yield* problems(recipe("{ kind: mlp }", "{ train: t.jsonl }"))
      assert.deepStrictEqual(missing.map((p) => p.path).sort(), ["data.classes", "data.inputShape"])
    }))

  it.effect("compiles to the classify workflow, which validates", () =>
    Effect.gen(function*() {
      const loaded = yield* loadRecipe(recipe("{ kind: cnn, filters: [4] }"))
      const compiled = compileRecipe(loaded, { runId: "t", recipeHash: "h", startedAt: 0 })
      assert.strictEqual(compiled.workflow.name, "classify")
      assert.deepStrictEqual(validateWorkflow(compiled.workflow), [])
      assert.include(compiled.schedule.join("\n"), "held-out accuracy")
    }))

  it.effect("refuses a row whose features do not fit inputShape, naming its file and line", () =>
    Effect.gen(function*() {
      const { train, error } = yield* dataError([
        JSON.stringify({ features: [0, 1, 0, 1], label: 2 }),
        JSON.stringify({ features: [0, 1, 0], label: 1 })
      ])
      assert.strictEqual(error._tag, "DatasetRowError")
      assert.strictEqual(error.uri, train)
      assert.strictEqual(error.line, 2)
      assert.strictEqual(error.message, "expected 4 features (inputShape [2,2]), got 3")
    }))

  it.effect("refuses a label outside [0, classes), and a row that is not {features, label}", () =>
    Effect.gen(function*() {
      const label = yield* dataError([JSON.stringify({ features: [0, 1, 0, 1], label: 3 })])
      assert.strictEqual(label.error.line, 1)
      assert.strictEqual(label.error.message, "label must be in [0, 3), got 3")
      const fractional = yield* dataError([JSON.stringify({ features: [0, 1, 0, 1], label: 1 }), JSON.stringify({ features: [0, 1, 0, 1], label: 0.5 })])
      assert.strictEqual(fractional.error._tag, "DatasetRowError")
      assert.strictEqual(fractional.error.line, 2)
      const text = yield* dataError([JSON.stringify({ features: ["a", 1, 0, 1], label: 1 })])
      assert.strictEqual(text.error._tag, "DatasetRowError")
      assert.strictEqual(text.error.line, 1)
    }))
})
