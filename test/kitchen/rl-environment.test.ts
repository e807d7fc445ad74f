import { rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { arithmeticEnv } from "../../src/adapters/envs/arithmetic-env.js"
import { loadEnvModule } from "../../src/adapters/envs/load-env-module.js"
import { checkAdapters, checkData, resumeRecipe, runRecipe } from "../../src/kitchen/index.js"
import { decodeRecipe, type RecipeError } from "../../src/recipes/index.js"
import { type EnvFactory, singleTurnEnv } from "../../src/ports/index.js"
import { manifestFile, metricsTextWithoutSeconds, readCheckpointState, readRun } from "../support/run-directory.js"
import { tempDirectory } from "../support/temp-directory.js"

// A user's environment module, written as a user would: TypeScript with types, loaded by
// path and export name (Node strips the types; vitest transforms the file).
const userModule = `
interface Row { readonly word: string }
export const echo = (row: Row) => ({
  initialObservation: () => [{ role: "user" as const, content: "say " + row.word }],
  step: (reply: string) => ({ reward: reply.trim() === row.word ? 1 : 0, done: true })
})
export const notAFactory: number = 42
`

const temp = tempDirectory("env")

const writeModule = Effect.map(temp, (dir) => {
  const file = join(dir, "envs.ts")
  writeFileSync(file, userModule)
  return file
})

const rlRecipe = (env: unknown, extra: Record<string, unknown> = {}) =>
  decodeRecipe({ kind: "rl", data: { train: "/data/train.jsonl" }, env, ...extra }, "test.yaml")

/** Rewards a reply by its length: a signal any tiny model can follow. */
const lengthEnv: EnvFactory = (row) => singleTurnEnv([{ role: "user", content: (row as { q: string }).q }], (reply) => reply.length)

/** A tiny rl recipe over ten questions in `dir`, its environment passed in code (lengthEnv). */
const lengthRecipe = (dir: string, extra: Record<string, unknown>) => {
  const train = join(dir, "train.jsonl")
  writeFileSync(train, Array.from({ length: 10 }, (_, index) => JSON.stringify({ q: `question ${index}` })).join("\n"))
  return rlRecipe({ provided: "reply-length" }, {
    data: { train, evalFraction: 0.2 },
    model: { layers: 1, width: 16, heads: 2, contextLength: 48 },
    rl: { groupSize: 3, maxTokens: 4 },
    eval: { every: 0, batchSize: 4 },
    backend: { device: "wasm" },
    ...extra
  })
}

const problemsOf = (error: RecipeError) => error.problems.map((problem) => `${problem.path}: ${problem.message}`)

describe("rl environments", () => {
  it.effect("a user module's export is loaded by path and name, and plays an episode", () =>
    Effect.gen(function*() {
      const make = yield* loadEnvModule(yield* writeModule, "echo")
      const env = yield* Effect.promise(async () => make({ word: "tomato" }))
      assert.deepStrictEqual(yield* Effect.promise(async () => env.initialObservation()), [{ role: "user", content: "say tomato" }])
      assert.deepStrictEqual(yield* Effect.promise(async () => env.step(" tomato\n")), { reward: 1, done: true })
      assert.deepStrictEqual(yield* Effect.promise(async () => env.step("potato")), { reward: 0, done: true })
    }))

  it.effect("checkAdapters refuses a missing module, a missing export and an export that is not a function", () =>
    Effect.gen(function*() {
      const file = yield* writeModule
      const missingFile = yield* Effect.flip(checkAdapters(yield* rlRecipe({ module: join(yield* temp, "nope.ts"), export: "echo" }), "test.yaml"))
      assert.match(problemsOf(missingFile).join("\n"), /^env\.module: no file at .*nope\.ts$/)
      const missingExport = yield* Effect.flip(checkAdapters(yield* rlRecipe({ module: file, export: "maze" }), "test.yaml"))
      assert.deepStrictEqual(problemsOf(missingExport), [`env.export: ${file} has no export "maze" (it exports echo, notAFactory)`])
      const notFunction = yield* Effect.flip(checkAdapters(yield* rlRecipe({ module: file, export: "notAFactory" }), "test.yaml"))
      assert.match(problemsOf(notFunction).join("\n"), /^env\.export: export "notAFactory" of .* is a number, not an environment factory/)
      yield* checkAdapters(yield* rlRecipe({ module: file, export: "echo" }), "test.yaml")
      yield* checkAdapters(yield* rlRecipe({ builtin: "arithmetic" }), "test.yaml")
    }))

  it.effect("env.provided needs the factory passed in code, and a factory passed in code needs env.provided", () =>
    Effect.gen(function*() {
      const provided = yield* rlRecipe({ provided: "echo" })
      const none = yield* Effect.flip(checkAdapters(provided, "test.yaml"))
      assert.match(problemsOf(none).join("\n"), /^env\.provided: names an environment passed in code/)
      const echo: EnvFactory = () => singleTurnEnv([{ role: "user", content: "hi" }], () => 0)
      yield* checkAdapters(provided, "test.yaml", { env: echo })
      const clash = yield* Effect.flip(checkAdapters(yield* rlRecipe({ builtin: "arithmetic" }), "test.yaml", { env: echo }))
      assert.match(problemsOf(clash).join("\n"), /^env: an environment was passed in code, but the recipe names another/)
    }))

  it.effect("the arithmetic environment prompts with the messages before the answer and rewards an exact reply", () =>
    Effect.gen(function*() {
      const row = {
        messages: [
          { role: "system", content: "Be brief." },
          { role: "user", content: "What is 2 + 3?" },
          { role: "assistant", content: "5" }
        ] as const
      }
      const env = yield* Effect.promise(async () => arithmeticEnv(row))
      assert.deepStrictEqual(yield* Effect.promise(async () => env.initialObservation()), row.messages.slice(0, 2))
      assert.strictEqual((yield* Effect.promise(async () => env.step(" 5 "))).reward, 1)
      assert.strictEqual((yield* Effect.promise(async () => env.step("50"))).reward, 0)
      assert.throws(() => arithmeticEnv({ messages: [{ role: "user", content: "hi" }] }), /no assistant message/)
      assert.throws(() => arithmeticEnv({ text: "hi" }))
    }))

  it.effect("checkData hands every row to the environment: a row it refuses is named by file and line", () =>
    Effect.gen(function*() {
      const train = join(yield* temp, "train.jsonl")
      const good = { messages: [{ role: "user", content: "1 + 1 = ?" }, { role: "assistant", content: "2" }] }
      writeFileSync(train, [good, good, { messages: [{ role: "user", content: "no answer" }] }].map((row) => JSON.stringify(row)).join("\n"))
      const error = yield* Effect.flip(checkData(yield* rlRecipe({ builtin: "arithmetic" }, { data: { train } })))
      assert.strictEqual(error._tag, "DatasetRowError")
      if (error._tag !== "DatasetRowError") return
      assert.strictEqual(error.uri, train)
      assert.strictEqual(error.line, 3)
      assert.match(error.message, /the environment's factory failed: the row has no assistant message holding the answer/)
    }))

  // A recipe written in code passes its environment itself: two steps of a tiny model from
  // scratch, with a reward of the reply's length, through the whole rl workflow.
  it.live("runRecipe runs an rl recipe with the environment passed in code", () =>
    Effect.gen(function*() {
      const dir = yield* temp
      const recipe = yield* lengthRecipe(dir, { training: { steps: 2, batchSize: 2 } })
      const runDir = join(dir, "run")
      const result = yield* runRecipe(recipe, { runDir, env: lengthEnv })
      assert.strictEqual(result.step, 2)
      const { summary, metrics } = readRun(runDir)
      assert.strictEqual(summary.lastEval.step, 2)
      assert.strictEqual(summary.lastEval.metrics.eval_episodes, 2)
      assert.isAbove(summary.lastEval.metrics.eval_reward, 0)
      assert.deepStrictEqual(metrics.map((line) => line.step), [1, 2])
      for (const line of metrics) assert.strictEqual(line.groups_kept + line.groups_dropped, 2)
    }))

  // Resume of an rl run: sampling seeds come from (seed, step, prompt), and the sampler is
  // made from the restored weights, so the continued run must end where the whole run ended.
  it.live("an rl run resumed from a checkpoint ends with the whole run's weights and metrics", () =>
    Effect.gen(function*() {
      const dir = yield* temp
      const recipe = yield* lengthRecipe(dir, { training: { steps: 5, batchSize: 2 }, checkpoint: { every: 2 } })
      const runDir = join(dir, "run")
      yield* runRecipe(recipe, { runDir, env: lengthEnv })
      const [weights, metrics] = [readCheckpointState(runDir), metricsTextWithoutSeconds(runDir)]
      // As if the run died after its step-4 checkpoint: resume replays step 5.
      rmSync(manifestFile(runDir, "final"))
      rmSync(join(runDir, "summary.json"))
      const resumed = yield* resumeRecipe(recipe, { runDir, env: lengthEnv, fallback: false })
      assert.strictEqual(resumed.step, 5)
      assert.isTrue(readCheckpointState(runDir).equals(weights))
      assert.strictEqual(metricsTextWithoutSeconds(runDir), metrics)
    }))
})
