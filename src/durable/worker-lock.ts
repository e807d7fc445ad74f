/**
 * One worker per SQLite file. The single-runner engine believes it owns every shard of its
 * file, so two workers on one file would both run every run (fencing keeps the runs exact,
 * but each trains twice). The worker holds `<db>.worker.lock` for its life; a second one
 * refuses to start. A dead worker's lock is taken over at once on this host.
 */
import { randomUUID } from "node:crypto"
import { Effect, Layer } from "effect"
import { messageOf } from "../ports/thrown-message.js"
import { releaseLockFile, tryLockFile } from "./lock-file.js"
import { WorkerLockError } from "./run-errors.js"

/** Holds the worker lock of the SQLite file `db` for the layer's life, or fails if another worker holds it. */
export const workerLockLayer = (db: string): Layer.Layer<never, WorkerLockError> =>
  Layer.effectDiscard(Effect.acquireRelease(
    Effect.gen(function*() {
      const file = `${db}.worker.lock`
      const token = randomUUID()
      const take = Effect.tryPromise({
        try: () => tryLockFile(file, token),
        catch: (cause) => new WorkerLockError({ db, message: `cannot lock ${file}: ${messageOf(cause)}` })
      })
      // A dead holder's lock is broken on the first try; the second takes it.
      const taken = yield* Effect.flatMap(take, (first) => (first === undefined ? take : Effect.succeed(first)))
      if (taken !== true) {
        const who = taken === undefined ? "another worker" : `another worker (pid ${taken.pid} on ${taken.host})`
        return yield* new WorkerLockError({
          db,
          message: `${who} runs the runs of ${db}: one worker per SQLite file (use PostgreSQL for several); ` +
            `if no worker runs, remove ${file}`
        })
      }
      return { file, token }
    }),
    ({ file, token }) => Effect.promise(() => releaseLockFile(file, token))
  ))
