/** What a segment asks of its run's checkpoint store: where it starts, and cleaning up after a loser. */
import { Effect } from "effect"
import { BlobStore } from "../../ports/index.js"
import { attemptOfStateKey, committedNames, manifestKey, newestFirst, readManifest } from "../../stages/index.js"

/** The manifest of the newest committed checkpoint of the store, or undefined when it holds none. */
export const newestManifest = Effect.gen(function*() {
  const store = yield* BlobStore
  const newest = newestFirst(yield* committedNames(store))[0]
  return newest === undefined ? undefined : yield* readManifest(store, newest)
})

/**
 * Deletes the state blobs `attemptId` wrote that no committed manifest names: what the loser
 * of a race to commit, or an attempt killed between its blob and its manifest, leaves. The
 * checkpoint stage deletes its own blob when it loses; this also covers an attempt that died
 * before it could. Call it only once the attempt has stopped. Resolves with the keys deleted.
 */
export const sweepAttemptBlobs = (attemptId: string) =>
  Effect.gen(function*() {
    const store = yield* BlobStore
    const deleted: Array<string> = []
    for (const key of yield* store.list("")) {
      if (attemptOfStateKey(key) !== attemptId) continue
      const name = key.slice(0, key.indexOf("/"))
      if (yield* store.exists(manifestKey(name))) {
        const manifest = yield* readManifest(store, name)
        if (manifest.blobs.some((blob) => blob.key === key)) continue
      }
      yield* store.delete(key)
      deleted.push(key)
    }
    return deleted
  })
