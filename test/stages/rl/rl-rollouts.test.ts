import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { jsonlFileSourceLayer } from "../../../src/adapters/datasets/jsonl-file-source.js"
import { localBackendLayer } from "../../../src/adapters/local/local-backend.js"
import { makeByteTokenizer } from "../../../src/adapters/tokenizers/byte-tokenizer.js"
import { type EnvFactory, Environment, singleTurnEnv, StartingWeights, Tokenizer, TrainingBackend, TrainingClient } from "../../../src/ports/index.js"
import { completionRendererFor, defineStage, loadEnvPrompts, nextBatch, RlKeys, rlRollouts, rlTrainStep, runEpisodes, RunKeys } from "../../../src/stages/index.js"
import { loop, runWorkflow, sequence, stage, workflow } from "../../../src/workflows/index.js"
import { byteTransformer } from "../../support/byte-transformer.js"
import { tempDirectory } from "../../support/temp-directory.js"
import { recordingSink } from "../../workflows/kit.js"

const tokenizer = makeByteTokenizer()
const architecture = byteTransformer(64)
const seed = 3

// A random model's replies are random bytes; a reward of their character codes mod 3 varies
// within every group, so no group is dropped and every step trains.
const env: EnvFactory = (row) =>
  singleTurnEnv([{ role: "user", content: String((row as { q: string }).q) }], (reply) =>
    [...reply].reduce((total, char) => total + char.codePointAt(0)!, 0) % 3)

/** Twelve prompts in a file removed when the test's scope closes. */
const promptsFile = Effect.map(tempDirectory("rl"), (dir) => {
  const file = join(dir, "prompts.jsonl")
  writeFileSync(file, Array.from({ length: 12 }, (_, index) => JSON.stringify({ q: `q${index}` })).join("\n"))
  return file
})

const ports = Layer.provideMerge(
  Layer.effect(
    TrainingClient,
    Effect.flatMap(TrainingBackend, (backend) => backend.createTrainingClient({ baseModel: "tiny", architecture, seed }))
  ),
  Layer.mergeAll(
    localBackendLayer({ device: "wasm", decode: tokenizer.decode }),
    Layer.succeed(Tokenizer, tokenizer),
    Layer.succeed(Environment, { make: env, description: "test env" }),
    Layer.succeed(StartingWeights, { source: { baseModel: "tiny", architecture, seed }, description: "the tiny base" }),
    jsonlFileSourceLayer,
    recordingSink().layer
  )
)

/**
 * Runs `steps` rl steps (rollouts, then an importance-sampling update) and, between the two,
 * scores each step's sampled tokens with the training client's `forward`: the logprobs the
 * weights as they are at that step give. Answers, per step, the largest difference from the
 * logprobs the sampler reported for the same tokens.
 */
const gapsPerStep = (maxStaleness: number, steps: number, klCoef = 0) =>
  Effect.gen(function*() {
    const train = yield* promptsFile
    const gaps: Array<number> = []
    const kls: Array<number> = []
    const compare = defineStage({
      name: "compare",
      description: "sampler logprobs against the training client's forward",
      reads: [RlKeys.rollouts],
      writes: [],
      run: Effect.fnUntraced(function*(context) {
        const { datums, metrics } = context.get(RlKeys.rollouts)
        if (klCoef > 0) kls.push(metrics["kl"]!)
        assert.isAbove(datums.length, 0, "every group was dropped: the test env must vary its rewards")
        const client = yield* TrainingClient
        const output = yield* Effect.flatMap(client.forward(datums, "importance_sampling"), (pending) => pending.result)
        let gap = 0
        let compared = 0
        datums.forEach((datum, index) => {
          const sampled = datum.loss_fn_inputs["logprobs"]!.data
          const current = output.loss_fn_outputs[index]!["logprobs"]!.data
          sampled.forEach((logprob, position) => {
            // Prompt positions hold 0: only the sampled tokens carry the sampler's logprob.
            if (logprob === 0) return
            gap = Math.max(gap, Math.abs(logprob - current[position]!))
            compared += 1
          })
        })
        assert.isAbove(compared, 0)
        gaps.push(gap)
      })
    })
    const config = { adam: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0, grad_clip_norm: 0 }, schedule: { kind: "constant" as const, baseLr: 3e-2, warmupSteps: 0, minLrRatio: 1 } }
    const wf = workflow({
      name: "rl-freshness",
      initial: [RunKeys.dataCursor],
      root: sequence(
        stage(loadEnvPrompts({ train, evalFraction: 0.1, seed, batchSize: 3, steps })),
        loop({
          name: "train",
          times: { key: RunKeys.totalSteps, label: "steps" },
          body: sequence(
            stage(nextBatch({ batchSize: 3, seed, shuffle: true }, { data: RlKeys.trainPrompts, batch: RlKeys.promptBatch })),
            stage(rlRollouts({
              groupSize: 4,
              maxTokens: 5,
              maxTurns: 1,
              temperature: 1,
              klCoef,
              maxStaleness,
              seed,
              contextLength: architecture.contextLength,
              format: "role-colon"
            })),
            stage(compare),
            stage(rlTrainStep(config, "importance_sampling"))
          )
        })
      )
    })
    const result = yield* runWorkflow(wf, { initialState: { [RunKeys.dataCursor.name]: { epoch: 0, position: 0 } } })
    assert.strictEqual(result.step, steps)
    return { gaps, kls }
  }).pipe(Effect.provide(ports))

describe("rl rollouts", () => {
  it.live("sample from the current weights every step: the sampler's logprobs are the trained model's", () =>
    Effect.gen(function*() {
      const { gaps } = yield* gapsPerStep(0, 3)
      assert.strictEqual(gaps.length, 3)
      for (const gap of gaps) assert.isBelow(gap, 1e-4)
    }))

  it.live("with maxStaleness 1 the sampler lags a step behind on every other step, and the same check catches it", () =>
    Effect.gen(function*() {
      // Step 0 refreshes, step 1 reuses step 0's weights (one update old), step 2 refreshes.
      const { gaps } = yield* gapsPerStep(1, 3)
      assert.isBelow(gaps[0]!, 1e-4)
      assert.isAbove(gaps[1]!, 1e-3)
      assert.isBelow(gaps[2]!, 1e-4)
    }))

  it.live("measure the KL to the starting weights: none before the first update, some after it", () =>
    Effect.gen(function*() {
      const { gaps, kls } = yield* gapsPerStep(0, 2, 0.5)
      for (const gap of gaps) assert.isBelow(gap, 1e-4)
      // Step 0 samples from the starting weights themselves.
      assert.isBelow(Math.abs(kls[0]!), 1e-4)
      assert.isAbove(Math.abs(kls[1]!), 1e-3)
    }))

  it.live("play multi-turn episodes: the reply and the observation continue the conversation, rewards add up", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      // Two turns: the first reply is answered with a question, the second ends the episode.
      const twoTurns: EnvFactory = () => {
        let turn = 0
        return {
          initialObservation: () => [{ role: "user", content: "first" }],
          step: (reply) => {
            turn += 1
            seen.push(reply)
            return turn === 1
              ? { reward: 1, done: false, observation: [{ role: "user", content: "second" }] }
              : { reward: 2, done: true }
          }
        }
      }
      const backend = yield* TrainingBackend
      const sampler = yield* backend.createSamplingClient({ baseModel: "tiny", architecture, seed })
      const render = yield* completionRendererFor({ format: "role-colon" })
      const rows = [{ uri: "rows.jsonl", line: 1, value: {} }]
      const [group] = yield* runEpisodes(sampler, render, rows, {
        count: 2, maxTokens: 3, maxTurns: 4, temperature: 1, contextLength: architecture.contextLength, seedOf: (_row, turn, request) => 100 * turn + request
      }).pipe(Effect.provide(Layer.succeed(Environment, { make: twoTurns, description: "two turns" })))
      assert.strictEqual(group!.length, 2)
      for (const episode of group!) {
        assert.strictEqual(episode.reward, 3)
        assert.strictEqual(episode.turns.length, 2)
        assert.isFalse(episode.truncated)
        // The second prompt is the first, the first reply as an assistant message, and the observation.
        const second = tokenizer.decode([...episode.turns[1]!.prompt.tokens])
        assert.include(second, "first")
        assert.include(second, "second")
        assert.isAbove(episode.turns[1]!.prompt.tokens.length, episode.turns[0]!.prompt.tokens.length + episode.turns[0]!.completion.tokens.length - 1)
      }
      assert.strictEqual(seen.length, 4)
    }).pipe(Effect.scoped, Effect.provide(ports)))
})
