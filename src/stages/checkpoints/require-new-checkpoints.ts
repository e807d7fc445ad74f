import { Effect } from "effect"
import { BlobStore, BlobStoreError } from "../../ports/index.js"
import { committedNames, manifestKey } from "./checkpoint-store.js"
import { defineStage } from "../run/stage.js"

/**
 * Refuses a checkpoint store that already holds committed checkpoints, before any training:
 * a new run would otherwise train to the end and then fail on the first name it shares.
 */
export const requireNewCheckpoints = defineStage({
  name: "check-store",
  description: "refuse a checkpoint store that already holds checkpoints",
  reads: [],
  writes: [],
  run: Effect.fnUntraced(function*() {
    const store = yield* BlobStore
    const committed = yield* committedNames(store)
    if (committed.length === 0) return
    return yield* new BlobStoreError({
      operation: "check",
      key: manifestKey(committed[0]!),
      message: `the checkpoint store ${store.uri} already holds ${committed.length} checkpoint(s); a new run needs a store of its own (set checkpoint.uri)`
    })
  })
})
