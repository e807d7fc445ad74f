import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Effect, type Scope } from "effect"
import { messageOf } from "../ports/thrown-message.js"
import { TrainingError } from "../ports/index.js"

/**
 * The weights of sampling sessions that no checkpoint holds (`save_weights_for_sampler`
 * without a name, as the SDK's `save_weights_and_get_sampling_client` sends), on disk so that
 * such a session, freed to make room for others, can be built again. One file per session,
 * each key's apart: `<stateDir>/sampler-sessions/<instance>/<owner>/<session id, URI-encoded>.state`.
 */
export interface SamplerWeights {
  readonly write: (owner: string, id: string, bytes: Uint8Array) => Effect.Effect<void, TrainingError>
  /** The bytes; undefined if they are gone. */
  readonly read: (owner: string, id: string) => Effect.Effect<Uint8Array | undefined>
  readonly remove: (owner: string, id: string) => Effect.Effect<void>
}

/**
 * The store of the run `instance` under `stateDir`, deleted when the scope closes: the
 * sessions die with the run (their ids carry its marker). Runs sharing a state directory
 * keep theirs apart; what a run that crashed left behind is never read again.
 */
export const makeSamplerWeights = (stateDir: string, instance: string): Effect.Effect<SamplerWeights, never, Scope.Scope> =>
  Effect.gen(function*() {
    const root = path.resolve(stateDir, "sampler-sessions", instance)
    yield* Effect.addFinalizer(() => Effect.promise(() => fs.rm(root, { recursive: true, force: true })))
    // Key names are letters, digits, '_' and '-'; session ids are encoded, so nothing escapes `root`.
    const file = (owner: string, id: string) => path.join(root, owner, `${encodeURIComponent(id)}.state`)
    const write = (owner: string, id: string, bytes: Uint8Array) =>
      Effect.tryPromise({
        try: async () => {
          await fs.mkdir(path.join(root, owner), { recursive: true })
          await fs.writeFile(file(owner, id), bytes)
        },
        catch: (error) =>
          new TrainingError({
            operation: "saveWeightsForSampler",
            message: `could not keep the weights of sampling session ${id}: ${messageOf(error)}`,
            retryable: true,
            cause: error
          })
      })
    const read = (owner: string, id: string) =>
      Effect.promise(() =>
        fs.readFile(file(owner, id)).then((buffer) => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength), () => undefined)
      )
    const remove = (owner: string, id: string) => Effect.promise(() => fs.rm(file(owner, id), { force: true }))
    return { write, read, remove }
  })
