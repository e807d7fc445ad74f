import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { loadRecipe } from "../../src/recipes/load-recipe.js"
import type { RecipeError } from "../../src/recipes/recipe-error.js"
import { asSupervised } from "../support/as-supervised.js"
import { suiteDirectory } from "../support/temp-directory.js"

const dir = suiteDirectory("recipe")
const file = (name: string, text: string) => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

const failure = (effect: Effect.Effect<unknown, RecipeError>) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(effect)
    const error = Exit.findErrorOption(exit)
    if (error._tag === "None") return assert.fail("expected the recipe to be rejected")
    return error.value
  })

describe("loadRecipe", () => {
  it.effect("fills every default and resolves data paths against the recipe's directory", () =>
    Effect.gen(function*() {
      const recipe = asSupervised(yield* loadRecipe(file("min.yaml", "kind: supervised\ndata:\n  train: data/train.jsonl\n")))
      assert.strictEqual(recipe.data.train, join(dir, "data/train.jsonl"))
      assert.strictEqual(recipe.optimizer.lr, 1e-3)
      assert.strictEqual(recipe.optimizer.schedule, "cosine")
      assert.strictEqual(recipe.renderer.trainOn, "assistant")
      assert.strictEqual(recipe.model.contextLength, 64)
      assert.deepStrictEqual(recipe.backend, { kind: "local", device: "auto" })
      assert.strictEqual(recipe.training.batchSize, 16)
    }))

  it.effect("reads a backend section by its kind: local without one, tinker with its own fields", () =>
    Effect.gen(function*() {
      const min = file("backend.yaml", "kind: supervised\ndata:\n  train: data/train.jsonl\n")
      assert.deepStrictEqual((yield* loadRecipe(min, ["backend.device=wasm"])).backend, { kind: "local", device: "wasm" })
      assert.deepStrictEqual(
        (yield* loadRecipe(min, ["backend={kind: tinker, baseUrl: 'http://gpu:8000'}"])).backend,
        { kind: "tinker", baseUrl: "http://gpu:8000", apiKeyEnv: "TINKER_API_KEY" }
      )
      // A mistake is reported against the kind that was meant, not against every kind.
      const problems = (sets: ReadonlyArray<string>) => Effect.map(failure(loadRecipe(min, sets)), (error) => error.problems)
      assert.deepStrictEqual(yield* problems(["backend={kind: tinker, device: gpu}"]), [{ path: "backend.device", message: "expected no excess property" }])
      assert.deepStrictEqual(yield* problems(["backend={kind: tinker, baseUrl: 5}"]), [{ path: "backend.baseUrl", message: "expected string, got 5" }])
      assert.deepStrictEqual(yield* problems(["backend.kind=remote"]), [{ path: "backend.kind", message: 'expected "local" or "tinker", got "remote"' }])
    }))

  it.effect("reads JSON too and applies --set overrides as typed values", () =>
    Effect.gen(function*() {
      const path = file("r.json", JSON.stringify({ kind: "supervised", data: { train: "/abs/t.jsonl" } }))
      const recipe = asSupervised(yield* loadRecipe(path, ["optimizer.lr=3e-4", "training.steps=20", "renderer.format=chatml", "data.eval=/abs/e.json"]))
      assert.strictEqual(recipe.data.eval, "/abs/e.json")
      assert.strictEqual(recipe.optimizer.lr, 3e-4)
      assert.strictEqual(recipe.training.steps, 20)
      assert.strictEqual(recipe.renderer.format, "chatml")
      assert.strictEqual(recipe.data.train, "/abs/t.jsonl")
    }))

  it.effect("reports every problem with its path and the value found", () =>
    Effect.gen(function*() {
      const path = file(
        "bad.yaml",
        "kind: supervised\noptimizer:\n  lr: -1\n  schedule: exponential\ntraining:\n  batchSize: 2.5\nmodle: {}\n"
      )
      const error = yield* failure(loadRecipe(path))
      const byPath = Object.fromEntries(error.problems.map((problem) => [problem.path, problem.message]))
      assert.strictEqual(byPath["optimizer.lr"], "expected a positive number, got -1")
      assert.include(byPath["optimizer.schedule"]!, "\"exponential\"")
      assert.strictEqual(byPath["training.batchSize"], "expected an integer, got 2.5")
      assert.strictEqual(byPath["data"], "missing key")
      assert.include(byPath["modle"]!, "excess property")
      assert.include(error.message, "optimizer.lr: expected a positive number, got -1")
      assert.include(error.message, path)
    }))

  it.effect("rejects an Adam decay of 1 and --set paths that reach prototypes", () =>
    Effect.gen(function*() {
      const path = file("beta.yaml", "kind: supervised\ndata: { train: t.jsonl }\n")
      const beta = yield* failure(loadRecipe(path, ["optimizer.beta1=1"]))
      assert.deepStrictEqual(beta.problems, [{ path: "optimizer.beta1", message: "expected a number in [0, 1), got 1" }])
      const proto = yield* failure(loadRecipe(path, ["__proto__.polluted=1"]))
      assert.include(proto.message, "--set cannot write '__proto__.polluted'")
      assert.strictEqual(({} as Record<string, unknown>)["polluted"], undefined)
    }))

  it.effect("checks fields against each other", () =>
    Effect.gen(function*() {
      const path = file("heads.yaml", "kind: supervised\ndata: { train: t.jsonl }\nmodel: { width: 64, heads: 5 }\n")
      const error = yield* failure(loadRecipe(path))
      assert.deepStrictEqual(error.problems, [{ path: "model.heads", message: "must divide model.width (64), got 5" }])
    }))

  it.effect("names a missing file, a parse error and a malformed --set", () =>
    Effect.gen(function*() {
      const missing = yield* failure(loadRecipe(join(dir, "nope.yaml")))
      assert.include(missing.message, "cannot read the recipe file")
      const broken = yield* failure(loadRecipe(file("broken.yaml", "kind: [supervised\n")))
      assert.include(broken.message, "cannot parse")
      const set = yield* failure(loadRecipe(file("ok.yaml", "kind: supervised\ndata: { train: t.jsonl }\n"), ["lr"]))
      assert.include(set.message, "--set expects path=value")
    }))
})
