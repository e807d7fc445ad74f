import { Effect, Schema, Stream } from "effect"
import { DatasetError, DatasetSource, type EnvFactory, Environment } from "../../ports/index.js"
import { trainEvalSplit } from "../data/data-order.js"
import { makeEnv } from "./env-calls.js"
import { RlKeys } from "./rl-keys.js"
import type { LoadChatDataConfig } from "../data/load-chat-data.js"
import { fixRunLength, type RunLength } from "../run/run-length.js"
import { RunKeys, type SourcedRow } from "../run/run-keys.js"
import { defineStage } from "../run/stage.js"

/** Where the rows come from, and how long training runs over them. */
export interface LoadEnvPromptsConfig extends LoadChatDataConfig, RunLength {}

/** Every row of a JSONL dataset as parsed JSON: what an environment factory is handed. */
export const readEnvRows = Effect.fnUntraced(function*(uri: string) {
  const source = yield* DatasetSource
  const rows = yield* Stream.runCollect(source.rows(uri, Schema.Unknown))
  if (rows.length === 0) return yield* new DatasetError({ uri, message: "the dataset has no rows" })
  return rows.map((row): SourcedRow<unknown> => ({ ...row, uri }))
})

/**
 * Hands every row to the environment factory once, so a row it refuses stops the run
 * before the first step (naming the row's file and line) rather than in the middle of it.
 */
export const checkEnvRows = (make: EnvFactory, rows: ReadonlyArray<SourcedRow<unknown>>) =>
  Effect.forEach(rows, (row) => makeEnv(make, row), { discard: true })

/**
 * Reads the train and held-out rows of an rl recipe, checks that the environment makes an
 * episode of each, and fixes the number of optimizer steps (announced in a `schedule`
 * event). Deterministic, so a resumed run loads the same prompts again; it also forgets any
 * sampler weights, so the first rollouts after it sample from the weights the run has.
 */
export const loadEnvPrompts = (config: LoadEnvPromptsConfig) =>
  defineStage({
    name: "load-prompts",
    rerunOnResume: true,
    description: config.eval === undefined
      ? `read ${config.train}, hold out ${Number((config.evalFraction * 100).toPrecision(3))}% for eval; the environment makes an episode of each row`
      : `read ${config.train}, eval on ${config.eval}; the environment makes an episode of each row`,
    reads: [],
    writes: [RlKeys.trainPrompts, RlKeys.evalPrompts, RunKeys.totalSteps, RlKeys.samplerWeights],
    run: Effect.fnUntraced(function*(context) {
      const environment = yield* Environment
      const { train, eval: held } = yield* trainEvalSplit(yield* readEnvRows(config.train), config, readEnvRows)
      yield* checkEnvRows(environment.make, train)
      yield* checkEnvRows(environment.make, held)
      context.set(RlKeys.trainPrompts, train)
      context.set(RlKeys.evalPrompts, held)
      context.set(RlKeys.samplerWeights, null)
      yield* Effect.logInfo(`environment: ${environment.description}`).pipe(Effect.annotateLogs({ train: train.length, eval: held.length }))
      yield* fixRunLength(context, config, train.length, held.length)
    })
  })
