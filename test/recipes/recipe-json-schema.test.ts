import { readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Ajv, type ValidateFunction } from "ajv"
import { Effect, Exit } from "effect"
import { afterEach, vi } from "vitest"
import { parse as parseYaml } from "yaml"
import { parseArgs } from "../../src/cli/args.js"
import { schemaCommand } from "../../src/cli/schema-command.js"
import { loadAnyRecipe } from "../../src/recipes/load-recipe.js"
import { recipeJsonSchema, type RecipeSchemaKind, recipeSchemaKinds } from "../../src/recipes/recipe-json-schema.js"
import { suiteDirectory } from "../support/temp-directory.js"

const root = join(import.meta.dirname, "..", "..")
const dir = suiteDirectory("recipe-json-schema")

// Strict: a keyword ajv does not know, or a type it cannot check, fails compilation.
const ajv = new Ajv({ strict: true, allErrors: true })
const validators = new Map<RecipeSchemaKind | "any", ValidateFunction>([
  ...recipeSchemaKinds.map((kind) => [kind, ajv.compile(recipeJsonSchema(kind))] as const),
  ["any", ajv.compile(recipeJsonSchema())]
])
const validator = (kind: RecipeSchemaKind | "any") => validators.get(kind)!

/** The schema's verdicts (its kind's and any recipe's) and sous's, on a recipe file's content. */
const verdicts = (input: Record<string, unknown>) =>
  Effect.gen(function*() {
    const file = join(dir, `${Math.random().toString(36).slice(2)}.json`)
    writeFileSync(file, JSON.stringify(input))
    const loaded = yield* Effect.exit(loadAnyRecipe(file))
    return {
      kind: validator(input["kind"] as RecipeSchemaKind)(input),
      any: validator("any")(input),
      sous: Exit.isSuccess(loaded)
    }
  })

const accepted = { kind: true, any: true, sous: true }
const refused = { kind: false, any: false, sous: false }

const yamlFiles = (folder: string): Array<string> =>
  readdirSync(join(root, folder), { recursive: true, encoding: "utf8" })
    .filter((name) => name.endsWith(".yaml"))
    .map((name) => join(folder, name))

const sftExample = parseYaml(readFileSync(join(root, "examples/sft-arithmetic/recipe.yaml"), "utf8")) as Record<string, unknown>

/** The sft-arithmetic example with `section`'s fields replaced by `fields`. */
const sftWith = (section: string, fields: Record<string, unknown>) => ({
  ...sftExample,
  [section]: { ...(sftExample[section] as object), ...fields }
})

describe("recipeJsonSchema", () => {
  it("is what schemas/ holds, one file per kind and recipe.json (regenerate: npm run build && node scripts/write-schemas.js)", () => {
    const expected = [...recipeSchemaKinds.map((kind) => `${kind}.json`), "recipe.json"].sort()
    assert.deepStrictEqual(readdirSync(join(root, "schemas")).sort(), expected)
    for (const kind of [...recipeSchemaKinds, undefined]) {
      const committed: unknown = JSON.parse(readFileSync(join(root, "schemas", `${kind ?? "recipe"}.json`), "utf8"))
      assert.deepStrictEqual(committed, recipeJsonSchema(kind), `schemas/${kind ?? "recipe"}.json is out of date`)
    }
  })

  it("is a draft-07 document that refuses unknown keys", () => {
    const supervised = recipeJsonSchema("supervised")
    assert.strictEqual(supervised["$schema"], "http://json-schema.org/draft-07/schema#")
    assert.strictEqual(supervised["additionalProperties"], false)
    assert.deepStrictEqual(supervised["required"], ["kind", "data"])
  })

  it("accepts every example recipe, against its kind's schema and any recipe's", () => {
    const examples = yamlFiles("examples")
    assert.isAtLeast(examples.length, 7)
    for (const example of examples) {
      const recipe = parseYaml(readFileSync(join(root, example), "utf8")) as { kind: RecipeSchemaKind }
      for (const kind of [recipe.kind, "any"] as const) {
        const validate = validator(kind)
        assert.isTrue(validate(recipe), `${example} against the ${kind} schema: ${ajv.errorsText(validate.errors)}`)
      }
    }
  })

  it.effect("refuses what sous refuses: a typo'd key, a wrong type, a bad enum, a negative lr", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* verdicts(sftExample), accepted)
      assert.deepStrictEqual(yield* verdicts(sftWith("optimizer", { lrr: 3e-4 })), refused)
      assert.deepStrictEqual(yield* verdicts({ ...sftExample, optimiser: { lr: 3e-4 } }), refused)
      assert.deepStrictEqual(yield* verdicts(sftWith("training", { steps: "many" })), refused)
      assert.deepStrictEqual(yield* verdicts(sftWith("training", { steps: 2.5 })), refused)
      assert.deepStrictEqual(yield* verdicts(sftWith("optimizer", { schedule: "cosin" })), refused)
      assert.deepStrictEqual(yield* verdicts(sftWith("optimizer", { lr: -1e-3 })), refused)
      assert.deepStrictEqual(yield* verdicts(sftWith("optimizer", { beta1: 1 })), refused)
      assert.deepStrictEqual(yield* verdicts({ ...sftExample, trackers: [{ kind: "wandb" }] }), refused)
      const { data: _, ...noData } = sftExample
      assert.deepStrictEqual(yield* verdicts(noData), refused)
    }))

  it("says where a typo'd key is", () => {
    const validate = validator("supervised")
    assert.isFalse(validate(sftWith("optimizer", { lrr: 3e-4 })))
    assert.deepStrictEqual(
      validate.errors?.map(({ instancePath, params }) => ({ instancePath, params })),
      [{ instancePath: "/optimizer", params: { additionalProperty: "lrr" } }]
    )
  })

  it.effect("takes the file form where loading rewrites it: a chatTemplate path, a backend without its kind", () =>
    Effect.gen(function*() {
      writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ chat_template: "{{ messages }}", eos_token: "</s>" }))
      const jinja = sftWith("renderer", { format: "jinja", chatTemplate: join(dir, "tokenizer_config.json") })
      assert.deepStrictEqual(yield* verdicts(jinja), accepted)
      assert.deepStrictEqual(yield* verdicts({ ...sftExample, backend: { device: "cpu", threads: 2 } }), accepted)
      assert.deepStrictEqual(yield* verdicts({ ...sftExample, backend: { kind: "tinker", baseUrl: "http://127.0.0.1:8000" } }), accepted)
      assert.deepStrictEqual(yield* verdicts({ ...sftExample, backend: { kind: "tinker", device: "cpu" } }), refused)
    }))

  it.effect("takes the other sections sous takes: trackers, lora, an rl environment, a classifier", () =>
    Effect.gen(function*() {
      const trackers = [
        { kind: "mlflow", uri: "http://127.0.0.1:5000", experiment: "sft" },
        { kind: "tensorboard", dir: "tb" },
        { kind: "otlp", endpoint: "http://127.0.0.1:4318" }
      ]
      assert.deepStrictEqual(yield* verdicts({ ...sftExample, trackers }), accepted)
      assert.deepStrictEqual(yield* verdicts(sftWith("model", { lora: { rank: 8, trainMlp: false } })), accepted)
      assert.deepStrictEqual(yield* verdicts({ kind: "rl", data: { train: "p.jsonl" }, env: { builtin: "arithmetic" } }), accepted)
      assert.deepStrictEqual(yield* verdicts({ kind: "rl", data: { train: "p.jsonl" }, env: { builtin: "chess" } }), refused)
      const classify = { kind: "classify", model: { kind: "mlp" }, data: { train: "t.jsonl", inputShape: [4], classes: 3 } }
      assert.deepStrictEqual(yield* verdicts(classify), accepted)
      assert.deepStrictEqual(yield* verdicts({ ...classify, renderer: { format: "chatml" } }), refused)
    }))

  it.effect("takes a pipeline's stages as recipe file paths with overrides, or inline recipes", () =>
    Effect.gen(function*() {
      const sftFile = join(root, "examples/sft-arithmetic/recipe.yaml")
      const stages = [
        { name: "sft", recipe: sftFile, set: ["training.steps=30"] },
        { name: "more", recipe: { ...sftExample, data: { train: "t.jsonl" } } }
      ]
      assert.deepStrictEqual(yield* verdicts({ kind: "pipeline", stages }), accepted)
      const typo = [stages[0], { name: "more", recipe: { ...sftExample, optimiser: {} } }]
      assert.deepStrictEqual(yield* verdicts({ kind: "pipeline", stages: typo }), refused)
      assert.deepStrictEqual(yield* verdicts({ kind: "pipeline", stages: [] }), refused)
      assert.deepStrictEqual(yield* verdicts({ kind: "pipeline", stages: [{ ...stages[0], sets: [] }] }), refused)
    }))
})

describe("sous schema", () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  const printed = (argv: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const writes: Array<string> = []
      vi.spyOn(process.stdout, "write").mockImplementation((text) => {
        writes.push(String(text))
        return true
      })
      yield* schemaCommand(parseArgs(argv))
      return JSON.parse(writes.join("")) as unknown
    })

  it.effect("prints a kind's schema, or any recipe's without a kind", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* printed(["schema", "rl"]), recipeJsonSchema("rl"))
      assert.deepStrictEqual(yield* printed(["schema"]), recipeJsonSchema())
    }))

  it("refuses an unknown kind, suggesting the one meant", () => {
    assert.throws(
      () => schemaCommand(parseArgs(["schema", "supervized"])),
      "sous schema takes one of supervised, classify, preference, rl, distill, pipeline (or none: any recipe), got 'supervized'; did you mean supervised?"
    )
    assert.throws(() => schemaCommand(parseArgs(["schema", "rl", "distill"])), "sous schema takes one kind at most, got also distill")
  })
})
