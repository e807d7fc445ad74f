import { readFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { parse } from "yaml"
import { runRecipe } from "../../src/kitchen/index.js"
import {
  classifyRecipe,
  distillRecipe,
  loadAnyRecipe,
  loadRecipe,
  pipelineRecipe,
  preferenceRecipe,
  type Recipe,
  RecipeError,
  rlRecipe,
  supervisedRecipe
} from "../../src/recipes/index.js"
import { tempDirectory } from "../support/temp-directory.js"

const examples = resolve(dirname(fileURLToPath(import.meta.url)), "../../examples")

/** A recipe file's fields as plain data, untyped: the constructor checks them as it runs. */
const fieldsOf = (file: string): never => parse(readFileSync(file, "utf8")) as never

/** The `RecipeError` that `build` throws. */
const rejection = (build: () => unknown): RecipeError => {
  try {
    build()
  } catch (error) {
    assert.instanceOf(error, RecipeError)
    return error
  }
  return assert.fail("expected the recipe to be rejected")
}

/** The problems of the `RecipeError` that `build` throws, as `path: message` lines. */
const problemsOf = (build: () => unknown): Array<string> =>
  rejection(build).problems.map((problem) => `${problem.path}: ${problem.message}`)

describe("recipe constructors", () => {
  // One example of each kind, built in code from its file's fields with the file's directory
  // as the base, equals the file loaded.
  const kinds: ReadonlyArray<readonly [string, (input: never, options: { baseDir: string }) => Recipe]> = [
    ["sft-arithmetic", supervisedRecipe],
    ["classify-digits", classifyRecipe],
    ["dpo-preferences", preferenceRecipe],
    ["rl-arithmetic", rlRecipe],
    ["distill-arithmetic", distillRecipe]
  ]
  for (const [example, construct] of kinds) {
    it.effect(`${construct.name} builds ${example} as loading its recipe.yaml does`, () =>
      Effect.gen(function*() {
        const file = join(examples, example, "recipe.yaml")
        assert.deepStrictEqual(construct(fieldsOf(file), { baseDir: dirname(file) }), yield* loadRecipe(file))
      }))
  }

  it("resolves relative paths against baseDir, keeps URIs and absolute paths, and defaults to the current directory", () => {
    const recipe = distillRecipe({
      data: { train: "data/train.jsonl", eval: "/abs/eval.jsonl" },
      tokenizer: { kind: "huggingface", path: "tok/tokenizer.json" },
      model: { from: { store: "s3://bucket/sft" } },
      teacher: { store: "../teacher" },
      checkpoint: { uri: "hf://me/ckpts" }
    }, { baseDir: "/work/project" })
    assert.strictEqual(recipe.data.train, "/work/project/data/train.jsonl")
    assert.strictEqual(recipe.data.eval, "/abs/eval.jsonl")
    assert.strictEqual(recipe.tokenizer.path, "/work/project/tok/tokenizer.json")
    assert.deepStrictEqual(recipe.model.from, { store: "s3://bucket/sft", checkpoint: "final" })
    assert.deepStrictEqual(recipe.teacher, { store: "/work/teacher", checkpoint: "final" })
    assert.strictEqual(recipe.checkpoint.uri, "hf://me/ckpts")
    const env = rlRecipe({ data: { train: "t.jsonl" }, env: { module: "envs/sum.ts", export: "sumEnv" } }).env
    assert.deepStrictEqual(env, { module: resolve("envs/sum.ts"), export: "sumEnv" })
  })

  it("fills defaults and takes a local backend without its kind, as a file does", () => {
    const recipe = supervisedRecipe({ data: { train: "/d/t.jsonl" }, backend: { device: "wasm" } })
    assert.deepStrictEqual(recipe.backend, { kind: "local", device: "wasm" })
    assert.strictEqual(recipe.kind, "supervised")
    assert.strictEqual(recipe.optimizer.lr, 1e-3)
    assert.strictEqual(recipe.training.batchSize, 16)
  })

  it("throws a RecipeError listing every misspelt or bad field with its path", () => {
    const problems = problemsOf(() =>
      supervisedRecipe({
        // @ts-expect-error `evl` is a typo of `eval`: tsc refuses it, and so does the constructor
        data: { train: "t.jsonl", evl: "e.jsonl" },
        optimizer: { lr: -1 },
        // @ts-expect-error `schedule` is an optimizer field
        training: { steps: 0, batchSize: 8, shedule: "cosine" }
      })
    )
    assert.deepStrictEqual(problems, [
      "training.shedule: expected no excess property",
      "training.steps: expected a positive integer, got 0",
      "optimizer.lr: expected a positive number, got -1",
      "data.evl: expected no excess property; did you mean \"eval\"?"
    ])
    assert.match(rejection(() => supervisedRecipe({ data: { train: "" } })).message, /^invalid recipe supervisedRecipe\(\.\.\.\):\n {2}data\.train: /)
  })

  it("applies the checks that span fields, and refuses another kind", () => {
    assert.deepStrictEqual(
      problemsOf(() => supervisedRecipe({ data: { train: "t.jsonl" }, training: { steps: 10 }, optimizer: { warmupSteps: 20 }, model: { width: 30, heads: 4 } })),
      ["optimizer.warmupSteps: must not exceed training.steps (10), got 20", "model.heads: must divide model.width (30), got 4"]
    )
    // @ts-expect-error the kind is the constructor's
    assert.deepStrictEqual(problemsOf(() => supervisedRecipe({ kind: "rl", data: { train: "t.jsonl" } })), ["kind: expected \"supervised\" (or no kind), got \"rl\""])
  })

  it.effect("pipelineRecipe builds the pipeline example as loading its file does, and checks its stages", () =>
    Effect.gen(function*() {
      const rl = join(examples, "rl-arithmetic")
      const sft = supervisedRecipe(fieldsOf(join(rl, "sft.yaml")), { baseDir: rl })
      const stages = [{ name: "sft", recipe: sft }, { name: "rl", recipe: rlRecipe(fieldsOf(join(rl, "recipe.yaml")), { baseDir: rl }) }]
      const file = join(examples, "pipeline-sft-rl/pipeline.yaml")
      assert.deepStrictEqual(pipelineRecipe({ name: "pipeline-sft-rl", stages }), yield* loadAnyRecipe(file))
      const digits = classifyRecipe(fieldsOf(join(examples, "classify-digits/recipe.yaml")), { baseDir: examples })
      assert.deepStrictEqual(problemsOf(() => pipelineRecipe({ stages: [{ name: "sft", recipe: sft }, { name: "sft", recipe: digits }] })), [
        "stages[1].name: stage name \"sft\" is used twice (it names the stage's run directory)"
      ])
      assert.deepStrictEqual(problemsOf(() => pipelineRecipe({ stages: [{ name: "SFT stage", recipe: sft }] })), [
        "stages[0].name: expected a name of lowercase letters, digits, - and _, got \"SFT stage\""
      ])
    }))

  it.effect("runRecipe runs what a constructor built", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirectory("constructed")
      const recipe = supervisedRecipe({
        data: { train: "data/train.jsonl", eval: "data/eval.jsonl" },
        model: { layers: 1, width: 16, heads: 2 },
        training: { steps: 2, batchSize: 4 },
        eval: { every: 0, batchSize: 4 },
        backend: { device: "wasm" }
      }, { baseDir: join(examples, "sft-arithmetic") })
      const result = yield* runRecipe(recipe, { runDir: join(dir, "run") })
      assert.strictEqual(result.step, 2)
      assert.strictEqual(readFileSync(join(dir, "run/metrics.jsonl"), "utf8").trim().split("\n").length, 2)
    }), 60_000)
})
