import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import { jsonlFileSourceLayer } from "../../../src/adapters/datasets/jsonl-file-source.js"
import { checkData } from "../../../src/kitchen/index.js"
import { compileRecipe } from "../../../src/recipes/compile-recipe.js"
import { loadRecipe } from "../../../src/recipes/load-recipe.js"
import { makeLocalBackend } from "../../../src/adapters/local/index.js"
import { makeByteTokenizer } from "../../../src/adapters/tokenizers/byte-tokenizer.js"
import { type DatasetRowError, type Datum, float32, fromInts, int64, StartingWeights, Tokenizer, TrainingBackend, TrainingClient } from "../../../src/ports/index.js"
import { evaluatePreference, loadPreferenceData, type PreferencePair, PreferenceKeys, referenceLogprobs, renderPreferenceData, RunKeys, emptySummary, type RunSummary } from "../../../src/stages/index.js"
import { runWorkflow, sequence, stage, validateWorkflow, workflow } from "../../../src/workflows/index.js"
import { recordingSink } from "../../workflows/kit.js"
import { byteTransformer } from "../../support/byte-transformer.js"
import { tempDirectory } from "../../support/temp-directory.js"

const tokenizer = makeByteTokenizer()
const bos = tokenizer.specialTokens["<|bos|>"]!
const eos = tokenizer.specialTokens["<|eos|>"]!
const text = (value: string) => tokenizer.encode(value)

// The prompt holds an assistant turn of its own: it is context, so it must not be weighted.
const row = {
  prompt: [
    { role: "user", content: "2+2" },
    { role: "assistant", content: "5" },
    { role: "user", content: "again?" }
  ],
  chosen: [{ role: "assistant", content: "4" }],
  rejected: [{ role: "assistant", content: "22" }]
}

/** A file of `lines`, removed when the test's scope closes. */
const writeRows = (lines: ReadonlyArray<string>) =>
  Effect.map(tempDirectory("preference"), (dir) => {
    const file = join(dir, "pairs.jsonl")
    writeFileSync(file, lines.join("\n") + "\n")
    return file
  })

const load = (file: string) => loadPreferenceData({ train: file, eval: file, evalFraction: 0.1, seed: 0 })
const render = (contextLength = 64) => renderPreferenceData({ format: "role-colon", contextLength, batchSize: 1, steps: 3 })

const prepare = (file: string, contextLength = 64) =>
  runWorkflow(
    workflow({ name: "prepare", initial: [], root: sequence(stage(load(file)), stage(render(contextLength))) }),
    {}
  ).pipe(Effect.provide(Layer.mergeAll(recordingSink().layer, Layer.succeed(Tokenizer)(tokenizer), jsonlFileSourceLayer)))

/** The datum that predicts tokens[1:] from tokens[:-1], with weights of tokens[1:]. */
const expectedDatum = (tokens: ReadonlyArray<number>, weights: ReadonlyArray<number>): Datum => ({
  model_input: fromInts(tokens.slice(0, -1)),
  loss_fn_inputs: { target_tokens: int64(tokens.slice(1)), weights: float32(weights.slice(1)) }
})

const promptTokens = [
  bos, ...text("User: 2+2"),
  ...text("\n\nAssistant: "), ...text("5"), eos,
  ...text("\n\nUser: again?"),
  ...text("\n\nAssistant: ")
]
const pairDatum = (reply: string) =>
  expectedDatum(
    [...promptTokens, ...text(reply), eos],
    [...promptTokens.map(() => 0), ...text(reply).map(() => 1), 1]
  )

describe("preference data", () => {
  it.effect("renders prompt + chosen and prompt + rejected, weighting the reply and its end token only", () =>
    Effect.gen(function*() {
      const result = yield* prepare(yield* writeRows([JSON.stringify(row)]))
      const [pair] = result.state[PreferenceKeys.trainRendered.name] as ReadonlyArray<{ chosen: Datum; rejected: Datum }>
      assert.deepStrictEqual(pair!.chosen, pairDatum("4"))
      assert.deepStrictEqual(pair!.rejected, pairDatum("22"))
      assert.strictEqual(result.state[RunKeys.totalSteps.name], 3)
    }))

  it.effect("cuts a long pair so the whole sequence fits the context, and refuses a reply cut away", () =>
    Effect.gen(function*() {
      const long = { ...row, chosen: [{ role: "assistant", content: "4".repeat(40) }] }
      const result = yield* prepare(yield* writeRows([JSON.stringify(long)]), 60)
      const [pair] = result.state[PreferenceKeys.trainRendered.name] as ReadonlyArray<{ chosen: Datum; rejected: Datum }>
      // Input and last target together: 60 tokens, one computeLogprobs call of the reference.
      assert.deepStrictEqual(pair!.chosen.model_input, fromInts([...promptTokens, ...text("4".repeat(40))].slice(0, 59)))
      assert.strictEqual(pair!.chosen.loss_fn_inputs["target_tokens"]!.data.length, 59)
      const exit = yield* Effect.exit(prepare(yield* writeRows([JSON.stringify(row)]), promptTokens.length - 1))
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? JSON.stringify(exit.cause) : ""
      assert.include(error, "\"line\":1")
      assert.include(error, `the chosen reply has no token within the context of ${promptTokens.length - 1} tokens`)
    }))

  it.effect("a row missing rejected fails naming the file and line", () =>
    Effect.gen(function*() {
      const { rejected: _, ...missing } = row
      const file = yield* writeRows([JSON.stringify(row), JSON.stringify(missing)])
      const exit = yield* Effect.exit(prepare(file))
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? JSON.stringify(exit.cause) : ""
      assert.include(error, file)
      assert.include(error, "\"line\":2")
      assert.include(error, "rejected: missing key")
    }))

  it.effect("a reply message that is not the assistant's is refused", () =>
    Effect.gen(function*() {
      const file = yield* writeRows([JSON.stringify({ ...row, chosen: [{ role: "user", content: "4" }] })])
      const exit = yield* Effect.exit(prepare(file))
      assert.isTrue(Exit.isFailure(exit))
      assert.include(JSON.stringify(Exit.isFailure(exit) ? exit.cause : ""), "\"line\":1")
    }))
})

describe("reference logprobs", () => {
  const architecture = byteTransformer(64)
  const source = { baseModel: "tiny", architecture, seed: 7 }

  // The reference of a fresh run is its own starting model: the policy's logprobs, read
  // with a forward pass, must equal the reference's target by target, and eval at step 0
  // must see margins of zero.
  it.effect("score each target token as the training client's forward pass does, and are recomputed identically", () =>
    Effect.gen(function*() {
      const file = yield* writeRows([JSON.stringify(row), JSON.stringify({ ...row, chosen: [{ role: "assistant", content: "four" }] })])
      const backend = yield* makeLocalBackend({ device: "cpu" })
      const client = yield* backend.createTrainingClient(source)
      const ports = Layer.mergeAll(
        recordingSink().layer,
        Layer.succeed(Tokenizer)(tokenizer),
        jsonlFileSourceLayer,
        Layer.succeed(TrainingBackend)(backend),
        Layer.succeed(TrainingClient)(client),
        Layer.succeed(StartingWeights)({ source, description: "tiny" })
      )
      const prepareAndEval = workflow({
        name: "reference",
        initial: [RunKeys.summary],
        root: sequence(
          stage(load(file)),
          stage(render()),
          stage(referenceLogprobs),
          stage(evaluatePreference({ beta: 0.5, batchSize: 1 }))
        )
      })
      const run = runWorkflow(prepareAndEval, { initialState: { [RunKeys.summary.name]: emptySummary } }).pipe(Effect.provide(ports))
      const first = yield* run
      const pairs = first.state[PreferenceKeys.trainPairs.name] as ReadonlyArray<PreferencePair>
      assert.strictEqual(pairs.length, 2)
      const data = pairs.flatMap((pair) => [pair.chosen, pair.rejected])
      const forward = yield* Effect.flatMap(client.forward(data, "cross_entropy"), (pending) => pending.result)
      const reference = pairs.flatMap((pair) => [pair.referenceChosen, pair.referenceRejected])
      forward.loss_fn_outputs.forEach((output, index) => {
        const policy = output["logprobs"]!.data
        assert.strictEqual(reference[index]!.length, policy.length)
        policy.forEach((value, t) => assert.approximately(reference[index]![t]!, value, 1e-4))
      })
      const summary = first.state[RunKeys.summary.name] as RunSummary
      assert.approximately(summary.lastEval!.metrics["eval_margin"]!, 0, 1e-4)
      assert.approximately(summary.lastEval!.metrics["eval_dpo_loss"]!, Math.LN2, 1e-4)
      // A resumed run scores again with the same frozen weights and gets the same numbers.
      const again = (yield* run).state[PreferenceKeys.trainPairs.name] as ReadonlyArray<PreferencePair>
      assert.deepStrictEqual(again, pairs)
    }).pipe(Effect.scoped))
})

describe("preference recipes", () => {
  const recipeFile = (train: string) =>
    Effect.map(tempDirectory("preference-recipe"), (dir) => {
      const file = join(dir, "recipe.yaml")
      writeFileSync(file, `kind: preference\ndata: { train: ${train} }\npreference: { beta: 0.25 }\n`)
      return file
    })

  it.effect("compile to a valid workflow with the recipe's beta", () =>
    Effect.gen(function*() {
      const recipe = yield* loadRecipe(yield* recipeFile(yield* writeRows([JSON.stringify(row)])))
      const compiled = compileRecipe(recipe, { runId: "test", recipeHash: "test", startedAt: 0 })
      assert.deepStrictEqual(validateWorkflow(compiled.workflow), [])
      assert.strictEqual(compiled.workflow.name, "preference")
      assert.include(JSON.stringify(compiled.workflow), "DPO (beta 0.25)")
    }))

  it.effect("checkData refuses a row missing rejected, naming the file and line", () =>
    Effect.gen(function*() {
      const { rejected: _, ...missing } = row
      const train = yield* writeRows([JSON.stringify(row), JSON.stringify(missing)])
      const error = yield* Effect.flip(checkData(yield* loadRecipe(yield* recipeFile(train))))
      const { _tag, uri, line, message } = error as DatasetRowError
      assert.deepStrictEqual({ _tag, uri, line, message }, { _tag: "DatasetRowError", uri: train, line: 2, message: "rejected: missing key" })
    }))
})
