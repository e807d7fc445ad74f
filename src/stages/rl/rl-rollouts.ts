import { Effect } from "effect"
import {
  type Datum,
  type SamplingClient,
  StartingWeights,
  TrainingBackend,
  TrainingClient
} from "../../ports/index.js"
import type { RendererFormat } from "../rendering/chat-renderer.js"
import { completionRendererFor } from "../rendering/completion-prompt.js"
import { centreGroups, klPenalizedAdvantages } from "./group-advantages.js"
import type { ChatTemplate } from "../rendering/jinja-renderer.js"
import { scoreCompletions } from "../distill/score-completions.js"
import { type RolloutBatch, RlKeys, type SamplerWeights } from "./rl-keys.js"
import { rolloutDatum } from "./rollout-datum.js"
import { type Episode, type EpisodeTurn, runEpisodes } from "./run-episodes.js"
import { sampleSeed } from "../sampling/sample-seed.js"
import { defineStage, type StageContext } from "../run/stage.js"

/** How an rl step samples its rollouts and turns them into training data. */
export interface RlRolloutsConfig {
  /** Episodes per prompt. */
  readonly groupSize: number
  readonly maxTokens: number
  readonly maxTurns: number
  readonly temperature: number
  /** Weight of the KL penalty against the starting weights (0: none). */
  readonly klCoef: number
  /** Steps a sampler may lag behind the weights (0: refreshed every step). */
  readonly maxStaleness: number
  /** The recipe's seed: with the step, the prompt's index and the turn it fixes every draw. */
  readonly seed: number
  readonly contextLength: number
  readonly format: RendererFormat
  readonly chatTemplate?: ChatTemplate | undefined
}

/**
 * The weights this step samples from. With `maxStaleness` k the sampler is made from the
 * current weights on every step divisible by k + 1 and kept for the k steps after (k = 0:
 * every step, fully on-policy). What is kept is the saved weights, not the sampler: each
 * step makes its sampler within its own scope, so none outlives the stage. A resumed run
 * has none kept and makes its first sampler from the restored weights; it repeats the
 * uninterrupted run exactly when it resumes on a refresh step (checkpoint.every a multiple
 * of k + 1).
 */
const samplerWeights = (context: StageContext, maxStaleness: number) =>
  Effect.gen(function*() {
    const held = context.get(RlKeys.samplerWeights)
    if (held !== null && context.step % (maxStaleness + 1) !== 0) return held
    const client = yield* TrainingClient
    const weights = yield* Effect.flatMap(client.saveWeightsForSampler(`rl-step-${context.step}`), (pending) => pending.result)
    return { weights, step: context.step } satisfies SamplerWeights
  })

/** The reference logprob of every sampled token of `turns`, under the starting weights. */
const referenceLogprobs = (reference: SamplingClient["Service"], turns: ReadonlyArray<EpisodeTurn>) =>
  scoreCompletions(reference, turns, "the KL reference: ")

const mean = (values: ReadonlyArray<number>) => (values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length)

/**
 * The sampling half of a GRPO-style step: plays `groupSize` episodes of each prompt of the
 * batch against the environment, with the policy's current weights (see `maxStaleness`),
 * centres each group's rewards, drops the groups whose rewards are all equal, and writes
 * the datums of the kept ones, each sampled token carrying its episode's advantage (less
 * the KL penalty when `klCoef` > 0). Seeds come from the recipe seed, the step, the prompt's
 * place in the batch and the turn: a resumed run samples what the original run sampled, so
 * no random state needs to be checkpointed. Samplers live for this stage only.
 *
 * Metrics: `reward` (mean episode reward, every group), `groups_kept`, `groups_dropped`,
 * `sampled_tokens`, `reply_tokens` (per reply), `finished` (replies that ended with the end
 * marker), `truncated` (episodes cut by the context), `sampler_age` (steps the sampler's
 * weights lag behind), and `kl` (mean log p_sampled − log p_reference per token of the kept groups, with a KL penalty).
 */
export const rlRollouts = (config: RlRolloutsConfig) =>
  defineStage({
    name: "rollouts",
    description: `${config.groupSize} episodes per prompt (at most ${config.maxTurns} turn(s) of ${config.maxTokens} tokens, temperature ${config.temperature}) ` +
      `with ${config.maxStaleness === 0 ? "this step's weights" : `weights at most ${config.maxStaleness} step(s) old`}; ` +
      `group-centred advantages, constant groups dropped${config.klCoef > 0 ? `, KL penalty ${config.klCoef} against the starting weights` : ""}`,
    reads: [RlKeys.promptBatch, RlKeys.samplerWeights],
    writes: [RlKeys.rollouts, RlKeys.samplerWeights],
    run: (context) =>
      Effect.scoped(Effect.gen(function*() {
        const backend = yield* TrainingBackend
        const render = yield* completionRendererFor(config)
        const weights = yield* samplerWeights(context, config.maxStaleness)
        context.set(RlKeys.samplerWeights, weights)
        const policy = yield* backend.createSamplingClient(weights.weights)
        const groups = yield* runEpisodes(policy, render, context.get(RlKeys.promptBatch), {
          count: config.groupSize,
          maxTokens: config.maxTokens,
          maxTurns: config.maxTurns,
          temperature: config.temperature,
          contextLength: config.contextLength,
          seedOf: (prompt, turn, request) => sampleSeed(config.seed, context.step, prompt, turn, request)
        })
        const centred = centreGroups(groups.map((group) => group.map((episode) => episode.reward)))
        const kept = centred.kept.flatMap(({ group, advantages }) =>
          groups[group]!.map((episode, index) => ({ episode, advantage: advantages[index]! })))
        const turns = kept.flatMap(({ episode, advantage }) =>
          episode.turns.filter((turn) => turn.completion.tokens.length > 0).map((turn) => ({ turn, advantage })))
        const references = config.klCoef > 0 && turns.length > 0
          ? yield* referenceLogprobs(yield* backend.createSamplingClient((yield* StartingWeights).source), turns.map(({ turn }) => turn))
          : undefined
        const datums: Array<Datum> = []
        let trainedTokens = 0
        let kl = 0
        let klTokens = 0
        turns.forEach(({ turn, advantage }, index) => {
          const { tokens, logprobs } = turn.completion
          const reference = references?.[index]
          if (reference !== undefined) {
            kl += logprobs.reduce((total, logprob, i) => total + logprob - reference[i]!, 0)
            klTokens += tokens.length
          }
          datums.push(rolloutDatum({
            prompt: turn.prompt.tokens,
            completion: tokens,
            logprobs,
            advantages: reference === undefined
              ? tokens.map(() => advantage)
              : klPenalizedAdvantages(advantage, logprobs, reference, config.klCoef)
          }, config.contextLength))
          // rolloutDatum cuts sequences longer than the context; those tokens are not trained.
          trainedTokens += Math.min(tokens.length, config.contextLength + 1 - turn.prompt.tokens.length)
        })
        const episodes: ReadonlyArray<Episode> = groups.flat()
        const replies = episodes.flatMap((episode) => episode.turns)
        const sampledTokens = replies.reduce((total, turn) => total + turn.completion.tokens.length, 0)
        const rollouts: RolloutBatch = {
          datums,
          trainedTokens,
          metrics: {
            reward: mean(episodes.map((episode) => episode.reward)),
            groups_kept: centred.kept.length,
            groups_dropped: centred.dropped,
            sampled_tokens: sampledTokens,
            reply_tokens: sampledTokens / Math.max(replies.length, 1),
            finished: replies.filter((turn) => turn.completion.finished).length / Math.max(replies.length, 1),
            truncated: episodes.filter((episode) => episode.truncated).length,
            sampler_age: context.step - weights.step,
            ...(config.klCoef > 0 ? { kl: klTokens === 0 ? Number.NaN : kl / klTokens } : {})
          }
        }
        context.set(RlKeys.rollouts, rollouts)
      }))
  })
