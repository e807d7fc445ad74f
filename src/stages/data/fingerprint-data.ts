import { createHash } from "node:crypto"
import { Effect } from "effect"
import { ResumeRefusedError } from "../../ports/index.js"
import { RunKeys } from "../run/run-keys.js"
import { defineStage } from "../run/stage.js"
import type { StateKey } from "../run/state-key.js"

/** SHA-256 of the values, in order: what a checkpoint's data order refers to. */
const dataDigest = (values: ReadonlyArray<unknown>): string => {
  const hash = createHash("sha256")
  values.forEach((value, index) => hash.update(index === 0 ? "" : "\n").update(JSON.stringify(value)))
  return hash.digest("hex")
}

/**
 * Fingerprints the prepared data (by default the rendered train and eval datums), so
 * checkpoints record which data their cursor walks. On resume the data is loaded again; if
 * its fingerprint differs from the checkpoint's (rows added, a file replaced), the same
 * cursor would pick other batches, so the run stops with an error instead of silently
 * training on something else.
 */
export const fingerprintData = (keys: ReadonlyArray<StateKey<any>> = [RunKeys.trainData, RunKeys.evalData]) =>
  defineStage({
    name: "fingerprint-data",
    rerunOnResume: true,
    description: `fingerprint ${keys.map((key) => key.name).join(" and ")} (resume checks they are unchanged)`,
    reads: [...keys, RunKeys.expectedDataDigest],
    writes: [RunKeys.dataDigest],
    run: Effect.fnUntraced(function*(context) {
      const digest = dataDigest(keys.map((key) => context.get(key)))
      const expected = context.get(RunKeys.expectedDataDigest)
      if (expected !== null && expected !== digest) {
        return yield* new ResumeRefusedError({
          message: `the data differs from what the checkpoint was trained on (fingerprint ${digest.slice(0, 12)}…, ` +
            `the checkpoint recorded ${expected.slice(0, 12)}…): resume needs the data the run started with`
        })
      }
      context.set(RunKeys.dataDigest, digest)
    })
  })
