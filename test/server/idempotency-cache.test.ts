import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { jsonReply } from "../../src/server/http-reply.js"
import { makeIdempotencyCache } from "../../src/server/idempotency-cache.js"

describe("idempotency cache", () => {
  it.effect("replays an owner's answer to its retries, and another owner's many keys never push it out", () =>
    Effect.gen(function*() {
      const cache = makeIdempotencyCache(60_000, 3)
      const first = cache.claim("alice", "submit-1")
      assert.strictEqual(first._tag, "First")
      if (first._tag === "First") first.settle(jsonReply({ request_id: "r1" }))
      // Bob's keys fill his own share only, and his "submit-1" is his own.
      for (let i = 0; i < 10; i++) assert.strictEqual(cache.claim("bob", `key-${i}`)._tag, "First")
      assert.strictEqual(cache.claim("bob", "submit-1")._tag, "First")
      const retry = cache.claim("alice", "submit-1")
      assert.strictEqual(retry._tag, "Replay")
      if (retry._tag === "Replay") assert.strictEqual((yield* retry.reply).status, 200)
      // Within one owner the oldest keys go first beyond the capacity.
      for (let i = 0; i < 3; i++) cache.claim("alice", `more-${i}`)
      assert.strictEqual(cache.claim("alice", "submit-1")._tag, "First")
    }))
})
