import { Context } from "effect"
import type { ChatMessage } from "./chat.js"

/** What an environment answers to one reply of the policy. */
export interface EnvStep {
  /** The reward of this reply; an episode's reward is the sum over its turns. */
  readonly reward: number
  /** True when the episode is over; an episode also ends after the recipe's `rl.maxTurns`. */
  readonly done: boolean
  /** Messages appended to the conversation (after the reply) before the policy speaks again. */
  readonly observation?: ReadonlyArray<ChatMessage>
}

/**
 * One episode of an environment: the conversation the policy answers first, then one
 * `step` per reply (the reply's text, without the turn's end marker). A single-turn
 * environment is a prompt and a scoring function ({@link singleTurnEnv}); a multi-turn one
 * answers each reply with more messages until it says `done`. Either method may be async.
 */
export interface Env {
  readonly initialObservation: () => ReadonlyArray<ChatMessage> | Promise<ReadonlyArray<ChatMessage>>
  readonly step: (reply: string) => EnvStep | Promise<EnvStep>
}

/**
 * Makes a fresh episode from one data row (a parsed JSONL value, passed as it is). It is
 * called once per rollout, so an `Env` may keep the state of its episode. Throwing (or
 * rejecting) refuses the row: the run stops with an error naming the row's file and line.
 */
export type EnvFactory = (row: unknown) => Env | Promise<Env>

/**
 * A one-turn environment: the policy answers `prompt` once and `reward` scores the reply's
 * text. The usual shape of a task with a checkable answer.
 */
export const singleTurnEnv = (
  prompt: ReadonlyArray<ChatMessage>,
  reward: (reply: string) => number | Promise<number>
): Env => ({
  initialObservation: () => prompt,
  step: async (reply) => ({ reward: await reward(reply), done: true })
})

/**
 * The environment an `rl` run trains against: the factory of its episodes and words for it
 * in logs (`builtin arithmetic`, `export default of envs/maze.ts`). The kitchen provides it
 * for rl recipes: from a built-in name, a module and export, or a factory passed in code.
 */
export class Environment extends Context.Service<Environment, {
  readonly make: EnvFactory
  readonly description: string
}>()("sous/ports/Environment") {}
