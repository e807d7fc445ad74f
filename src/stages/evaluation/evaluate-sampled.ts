import { Effect } from "effect"
import { MetricsSink } from "../../ports/index.js"
import type { RendererFormat } from "../rendering/chat-renderer.js"
import { completionRendererFor } from "../rendering/completion-prompt.js"
import { withEval } from "./eval-summary.js"
import type { ChatTemplate } from "../rendering/jinja-renderer.js"
import { currentPolicySampler } from "../sampling/policy-sampler.js"
import { RlKeys } from "../rl/rl-keys.js"
import { runEpisodes } from "../rl/run-episodes.js"
import { RunKeys } from "../run/run-keys.js"
import { sampleSeed } from "../sampling/sample-seed.js"
import { defineStage } from "../run/stage.js"

/** How held-out episodes are played. */
export interface EvaluateSampledConfig {
  /** Held-out prompts evaluated: the first this many (all of them when there are fewer). */
  readonly prompts: number
  readonly maxTokens: number
  readonly maxTurns: number
  readonly contextLength: number
  readonly seed: number
  readonly format: RendererFormat
  readonly chatTemplate?: ChatTemplate | undefined
}

/**
 * Sampled evaluation: one episode of each held-out prompt with greedy replies (top_k 1 at
 * temperature 1, so the same weights always give the same replies), scored by the
 * environment's reward, the user's scoring function. Reports `eval_reward`, the mean episode
 * reward, and `eval_exact_match`, the fraction of episodes whose reward reaches 1: with the
 * 0/1 rewards of a checkable answer (the arithmetic environment's exact match), the share of
 * prompts answered correctly. Sent as an `eval` event and kept in the run summary (first,
 * last, and best by `eval_reward`).
 */
export const evaluateSampled = (config: EvaluateSampledConfig) =>
  defineStage({
    name: "eval",
    description: `greedy replies to ${config.prompts} held-out prompts, scored by the environment (mean reward, exact match)`,
    reads: [RlKeys.evalPrompts, RunKeys.summary],
    writes: [RunKeys.summary],
    run: (context) =>
      Effect.scoped(Effect.gen(function*() {
        const prompts = context.get(RlKeys.evalPrompts).slice(0, config.prompts)
        // No held-out prompts means no measurement; a reward of 0 would read as a failed model.
        if (prompts.length === 0) return yield* Effect.logWarning("no held-out prompts; eval skipped")
        const sampler = yield* currentPolicySampler(`eval-step-${context.step}`)
        const groups = yield* runEpisodes(sampler, yield* completionRendererFor(config), prompts, {
          count: 1,
          maxTokens: config.maxTokens,
          maxTurns: config.maxTurns,
          temperature: 1,
          topK: 1,
          contextLength: config.contextLength,
          // Greedy replies ignore the seed; one is given so a sampler never draws its own.
          seedOf: (prompt, turn) => sampleSeed(config.seed, prompt, turn)
        })
        const rewards = groups.map((group) => group[0]!.reward)
        const metrics = {
          eval_reward: rewards.reduce((total, reward) => total + reward, 0) / rewards.length,
          eval_exact_match: rewards.filter((reward) => reward >= 1).length / rewards.length,
          eval_episodes: rewards.length
        }
        yield* (yield* MetricsSink).event({ name: "eval", step: context.step, data: metrics })
        context.set(
          RunKeys.summary,
          withEval(context.get(RunKeys.summary), context.step, metrics, (candidate, best) => candidate["eval_reward"]! > best["eval_reward"]!)
        )
      }))
  })
