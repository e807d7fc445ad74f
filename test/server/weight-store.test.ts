import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { makeWeightStore } from "../../src/server/weight-store.js"
import { tempDirectory } from "../support/temp-directory.js"

const checkpoint = { modelId: "s:train:0", kind: "sampler_weights", name: "policy" } as const

describe("the weight store", () => {
  // Two saves of one name at seq_ids k and k+1 announce their files in order, but the backend
  // may hand their bytes over in either order: the file must end with k+1's, as the order says.
  it.live("writes saves of one file in the order they were announced, whatever order their bytes come in", () =>
    Effect.scoped(Effect.gen(function*() {
      const store = makeWeightStore(yield* tempDirectory("weights"))
      const first = store.reserve("alice", checkpoint)
      const second = store.reserve("alice", checkpoint)
      const later = yield* Effect.forkChild(second.write(Uint8Array.of(2), true))
      yield* Effect.sleep(20)
      yield* first.write(Uint8Array.of(1), true)
      yield* Fiber.join(later)
      assert.deepStrictEqual([...(yield* store.read("alice", checkpoint))], [2])
    })))

  it.live("lets a save that gave up unblock the saves and reads behind it", () =>
    Effect.scoped(Effect.gen(function*() {
      const store = makeWeightStore(yield* tempDirectory("weights"))
      const failed = store.reserve("alice", checkpoint)
      const next = store.reserve("alice", checkpoint)
      failed.abandon()
      yield* next.write(Uint8Array.of(7), false)
      assert.deepStrictEqual([...(yield* store.read("alice", checkpoint))], [7])
    })))
})
