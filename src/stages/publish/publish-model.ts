import { Effect } from "effect"
import { Hub, MetricsSink, Tokenizer, TrainingClient, TrainingError } from "../../ports/index.js"
import { modelCard } from "./model-card.js"
import { RunKeys } from "../run/run-keys.js"
import { defineStage } from "../run/stage.js"

/** Where and what to publish. */
export interface PublishModelConfig {
  /** The Hub repository, `hf://user/name`. */
  readonly repo: string
  readonly name: string
  readonly baseModel: string
  /** The resolved recipe as JSON text. */
  readonly recipeJson: string
}

const text = (value: string) => new TextEncoder().encode(value)

/**
 * Publishes the trained model in one Hub commit: the final weights (as a sampler loads
 * them), the tokenizer's description, the resolved recipe and a model card with the run's
 * evaluation numbers.
 */
export const publishModel = (config: PublishModelConfig) =>
  defineStage({
    name: "publish",
    description: `publish weights, tokenizer, recipe and model card to ${config.repo}`,
    reads: [RunKeys.runInfo, RunKeys.summary],
    writes: [],
    run: Effect.fnUntraced(function*(context) {
      const hub = yield* Hub
      const client = yield* TrainingClient
      const tokenizer = yield* Tokenizer
      const weights = yield* Effect.flatMap(client.saveWeightsForSampler("published"), (pending) => pending.result)
      if (weights._tag !== "Bytes") {
        return yield* new TrainingError({
          operation: "publish",
          message: `the backend keeps its weights remotely (${weights.path}); publishing them from there is not supported`,
          retryable: false
        })
      }
      const card = modelCard({
        name: config.name,
        baseModel: config.baseModel,
        recipeHash: context.get(RunKeys.runInfo).recipeHash,
        tokenizerId: tokenizer.id,
        summary: context.get(RunKeys.summary)
      })
      const tokenizerJson = JSON.stringify(
        { id: tokenizer.id, vocabSize: tokenizer.vocabSize, specialTokens: tokenizer.specialTokens },
        null,
        2
      )
      const published = yield* hub.publish(config.repo, [
        { path: "weights.bin", bytes: weights.bytes },
        { path: "tokenizer.json", bytes: text(`${tokenizerJson}\n`) },
        { path: "recipe.json", bytes: text(`${config.recipeJson}\n`) },
        { path: "README.md", bytes: text(card) }
      ], `sous: publish ${config.name} after ${context.step} steps`)
      yield* (yield* MetricsSink).event({ name: "publish", step: context.step, data: { ...published } })
    })
  })
