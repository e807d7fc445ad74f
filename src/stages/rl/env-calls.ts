import { Effect, Schema } from "effect"
import { messageOf } from "../../ports/thrown-message.js"
import { ChatMessage, DatasetRowError, type Env, type EnvFactory, type EnvStep } from "../../ports/index.js"
import type { SourcedRow } from "../run/run-keys.js"

// Calls into a user's environment (the `Environment` port). What user code hands back is
// checked at the boundary, so a wrong shape is an error that names the row instead of a NaN
// deep inside a loss.
const Messages = Schema.Array(ChatMessage)
const StepAnswer = Schema.Struct({
  reward: Schema.Finite,
  done: Schema.Boolean,
  observation: Schema.optionalKey(Messages)
})

const rowError = (row: SourcedRow<unknown>, message: string, cause?: unknown) =>
  new DatasetRowError({ uri: row.uri, line: row.line, message, cause })

/** Runs user code of the environment, turning a throw or a rejection into an error naming the row. */
const callEnv = <A>(row: SourcedRow<unknown>, doing: string, call: () => A | Promise<A>): Effect.Effect<A, DatasetRowError> =>
  Effect.tryPromise({
    try: async () => await call(),
    catch: (cause) => rowError(row, `the environment's ${doing} failed: ${messageOf(cause)}`, cause)
  })

/** What user code answered, decoded by `schema`; a wrong shape is an error naming the row. */
const checked = <A, I>(schema: Schema.Codec<A, I>, row: SourcedRow<unknown>, doing: string) => (answer: unknown) =>
  Schema.decodeUnknownEffect(schema)(answer).pipe(
    Effect.mapError((error) => rowError(row, `the environment's ${doing} answered an unexpected value: ${error.message.split("\n")[0]}`, error))
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
