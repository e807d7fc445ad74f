import { Context, Effect, Schema } from "effect"
import { DatasetRowError } from "../ports/index.js"
import { ChatMessage } from "./chat.js"
import type { SourcedRow } from "./run-keys.js"

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
}>()("sous/stages/Environment") {}

const messageOf = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

// What user code hands back is checked at the boundary, so a wrong shape is an error that
// names the row instead of a NaN deep inside a loss.
const Messages = Schema.Array(ChatMessage)
const StepAnswer = Schema.Struct({
  reward: Schema.Finite,
  done: Schema.Boolean,
  observation: Schema.optionalKey(Messages)
})

const rowError = (row: SourcedRow<unknown>, message: string) => new DatasetRowError({ uri: row.uri, line: row.line, message })

/** Runs user code of the environment, turning a throw or a rejection into an error naming the row. */
const callEnv = <A>(row: SourcedRow<unknown>, doing: string, call: () => A | Promise<A>): Effect.Effect<A, DatasetRowError> =>
  Effect.tryPromise({
    try: async () => await call(),
    catch: (cause) => rowError(row, `the environment's ${doing} failed: ${messageOf(cause)}`)
  })

/** What user code answered, decoded by `schema`; a wrong shape is an error naming the row. */
const checked = <A, I>(schema: Schema.Codec<A, I>, row: SourcedRow<unknown>, doing: string) => (answer: unknown) =>
  Schema.decodeUnknownEffect(schema)(answer).pipe(
    Effect.mapError((error) => rowError(row, `the environment's ${doing} answered an unexpected value: ${error.message.split("\n")[0]}`))
  )

/** A fresh episode of the row's environment; a row the factory refuses is an error naming it. */
export const makeEnv = (make: EnvFactory, row: SourcedRow<unknown>): Effect.Effect<Env, DatasetRowError> =>
  Effect.flatMap(callEnv(row, "factory", () => make(row.value)), (env) =>
    typeof env?.initialObservation === "function" && typeof env?.step === "function"
      ? Effect.succeed(env)
      : Effect.fail(rowError(row, "the environment factory must answer an Env: an object with initialObservation() and step(reply)")))

/** The conversation an episode starts with, checked to be one or more chat messages. */
export const initialObservation = (env: Env, row: SourcedRow<unknown>): Effect.Effect<ReadonlyArray<ChatMessage>, DatasetRowError> =>
  callEnv(row, "initialObservation()", () => env.initialObservation()).pipe(
    Effect.flatMap(checked(Messages, row, "initialObservation()")),
    Effect.filterOrFail((messages) => messages.length > 0, () => rowError(row, "the environment's initialObservation() has no message"))
  )

/** The environment's answer to a reply, checked: a finite reward, `done`, chat messages. */
export const stepEnv = (env: Env, reply: string, row: SourcedRow<unknown>): Effect.Effect<EnvStep, DatasetRowError> =>
  Effect.flatMap(callEnv(row, "step(reply)", () => env.step(reply)), checked(StepAnswer, row, "step(reply)"))
