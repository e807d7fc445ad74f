import { Effect } from "effect"
import { type ChatMessage, type Env, Environment, InvalidRequestError, type SamplingClient, Tokenizer } from "../../ports/index.js"
import type { CompletionPrompt, CompletionRenderer } from "../rendering/completion-prompt.js"
import { initialObservation, makeEnv, stepEnv } from "./env-calls.js"
import type { SourcedRow } from "../run/run-keys.js"
import { type Completion, sampleCompletions } from "../sampling/sample-completions.js"

/** One reply of an episode: the prompt it answered (the conversation so far) and the reply. */
export interface EpisodeTurn {
  readonly prompt: CompletionPrompt
  readonly completion: Completion
}

/** One finished episode: its replies and the sum of their rewards. */
export interface Episode {
  readonly turns: ReadonlyArray<EpisodeTurn>
  readonly reward: number
  /** True when the conversation outgrew the context before the environment said it was done. */
  readonly truncated: boolean
}

/** How episodes are played. */
export interface EpisodeSampling {
  /** Episodes per row (the group size; 1 for evaluation). */
  readonly count: number
  readonly maxTokens: number
  readonly maxTurns: number
  readonly temperature: number
  /** 1 for greedy replies. */
  readonly topK?: number
  /** The model's context: a conversation that leaves no room for a reply ends the episode. */
  readonly contextLength: number
  /**
   * The seed of one sampling request: the row's index, the turn, and the request's index
   * among that row's requests of the turn. A pure function of these, so a resumed run draws
   * what the original run drew.
   */
  readonly seedOf: (row: number, turn: number, request: number) => number
}

interface Playing {
  readonly row: number
  readonly env: Env
  messages: ReadonlyArray<ChatMessage>
  turns: Array<EpisodeTurn>
  reward: number
  done: boolean
  truncated: boolean
}

/**
 * Plays `count` episodes of each row's environment with `sampler` as the policy, answered as
 * one group of episodes per row. Each turn renders every running conversation for the next
 * assistant reply; the episodes of a row that share a prompt (every episode on the first
 * turn, usually) are sampled in one request, and every request is submitted before any is
 * awaited. The reply's text goes to the environment's `step`; its observation, after the
 * reply as an assistant message, continues the conversation, until the environment says
 * `done` or `maxTurns` replies were given.
 */
export const runEpisodes = (
  sampler: SamplingClient["Service"],
  render: CompletionRenderer,
  rows: ReadonlyArray<SourcedRow<unknown>>,
  sampling: EpisodeSampling
) =>
  Effect.gen(function*() {
    const tokenizer = yield* Tokenizer
    const environment = yield* Environment
    const playing: Array<Playing> = []
    for (const [row, source] of rows.entries()) {
      for (let episode = 0; episode < sampling.count; episode++) {
        const env = yield* makeEnv(environment.make, source)
        playing.push({ row, env, messages: yield* initialObservation(env, source), turns: [], reward: 0, done: false, truncated: false })
      }
    }
    for (let turn = 0; turn < sampling.maxTurns; turn++) {
      // Requests of this turn: episodes of one row whose prompts are the same token for token.
      const requests: Array<{ prompt: CompletionPrompt; episodes: Array<Playing>; seed: number }> = []
      const byPrompt = new Map<string, (typeof requests)[number]>()
      for (const episode of playing.filter((e) => !e.done)) {
        const prompt = yield* render(episode.messages, tokenizer)
        if (prompt.tokens.length >= sampling.contextLength) {
          episode.done = true
          episode.truncated = true
          continue
        }
        const key = `${episode.row}:${prompt.tokens.join(",")}`
        const request = byPrompt.get(key)
        if (request !== undefined) {
          request.episodes.push(episode)
          continue
        }
        const index = requests.filter((r) => r.episodes[0]!.row === episode.row).length
        const created = { prompt, episodes: [episode], seed: sampling.seedOf(episode.row, turn, index) }
        requests.push(created)
        byPrompt.set(key, created)
      }
      if (requests.length === 0) break
      const pending = []
      for (const request of requests) {
        pending.push(yield* sampleCompletions(sampler, tokenizer, request.prompt, request.episodes.length, {
          maxTokens: sampling.maxTokens,
          temperature: sampling.temperature,
          ...(sampling.topK === undefined ? {} : { topK: sampling.topK }),
          seed: request.seed
        }))
      }
      for (const [index, request] of requests.entries()) {
        const completions = yield* pending[index]!
        for (const [position, episode] of request.episodes.entries()) {
          const completion = completions[position]
          if (completion === undefined || completion.logprobs.length !== completion.tokens.length) {
            return yield* new InvalidRequestError({
              operation: "sample",
              message: `the sampler answered ${completions.length} replies for ${request.episodes.length}, or a reply without one logprob per token`
            })
          }
          episode.turns.push({ prompt: request.prompt, completion })
          const answer = yield* stepEnv(episode.env, completion.text, rows[episode.row]!)
          episode.reward += answer.reward
          episode.done = answer.done
          episode.messages = [...episode.messages, { role: "assistant", content: completion.text }, ...(answer.observation ?? [])]
        }
      }
    }
    return rows.map((_, row) =>
      playing
        .filter((episode) => episode.row === row)
        .map((episode): Episode => ({ turns: episode.turns, reward: episode.reward, truncated: episode.truncated }))
    )
  })
