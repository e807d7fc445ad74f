import { createHash } from "node:crypto"
import { Effect } from "effect"
import { InvalidRequestError } from "../ports/index.js"
import { RunKeys } from "./run-keys.js"
import { defineStage } from "./stage.js"

/** SHA-256 of the rendered training and eval datums: what a checkpoint's data order refers to. */
const dataDigest = (train: unknown, evalData: unknown): string =>
  createHash("sha256").update(JSON.stringify(train)).update("\n").update(JSON.stringify(evalData)).digest("hex")

/**
 * Fingerprints the rendered data, so checkpoints record which data their cursor walks. On
 * resume the data is loaded again; if its fingerprint differs from the checkpoint's (rows
 * added, a file replaced), the same cursor would pick other batches, so the run stops with
 * an error instead of silently training on something else.
 */
export const fingerprintData = defineStage({
  name: "fingerprint-data",
  rerunOnResume: true,
  description: "fingerprint the rendered data (resume checks it is unchanged)",
  reads: [RunKeys.trainData, RunKeys.evalData, RunKeys.expectedDataDigest],
  writes: [RunKeys.dataDigest],
  run: Effect.fnUntraced(function*(context) {
    const digest = dataDigest(context.get(RunKeys.trainData), context.get(RunKeys.evalData))
    const expected = context.get(RunKeys.expectedDataDigest)
    if (expected !== null && expected !== digest) {
      return yield* new InvalidRequestError({
        operation: "resume",
        message: `the data differs from what the checkpoint was trained on (fingerprint ${digest.slice(0, 12)}…, ` +
          `the checkpoint recorded ${expected.slice(0, 12)}…): resume needs the data the run started with`
      })
    }
    context.set(RunKeys.dataDigest, digest)
  })
})
