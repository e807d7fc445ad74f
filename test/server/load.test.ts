import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { fromInts } from "../../src/ports/index.js"
import {
  adam,
  asKey,
  awaitFuture,
  createModel,
  createSession,
  keyedServer,
  postForwardBackward,
  postJson,
  until,
  withBackend
} from "./fixtures.js"

// How long the clients train and sample. Short for the suite; the full minute:
// SOUS_LOAD_TEST_MS=60000 npx vitest run test/server/load.test.ts
const loadMs = Number(process.env["SOUS_LOAD_TEST_MS"] ?? 8000)
const clients = 20

// A full collection before each reading, so the heap is compared and not the garbage.
setFlagsFromString("--expose-gc")
const collect = runInNewContext("gc") as () => void

const heapUsed = () => {
  collect()
  collect()
  return process.memoryUsage().heapUsed
}

type Server = Parameters<typeof postJson>[0]

/** What the clients share: each one's latest request id and model, for the others to try. */
interface Seen {
  readonly futures: Array<string>
  readonly models: Array<string>
  attempts: number
  breaches: Array<string>
}

/** One client: trains and samples with its own key until `deadline`, trying the others' ids as it goes. */
const client = (server: Server, index: number, seen: Seen, deadline: number, unloadAtEnd: boolean) =>
  Effect.gen(function*() {
    const key = asKey(`tml-load-client-${index}-key`)
    const sessionId = yield* createSession(server, key)
    const modelId = yield* createModel(server, sessionId, 0, index, key)
    seen.models[index] = modelId
    let seq = 1
    let samplers = 0
    let steps = 0
    while (Date.now() < deadline) {
      const fb = yield* postForwardBackward(server, { model_id: modelId, seq_id: seq++ }, key)
      const step = yield* postJson(server, "/optim_step", { model_id: modelId, seq_id: seq++, adam_params: adam() }, key)
      seen.futures[index] = fb.json.request_id
      assert.strictEqual((yield* awaitFuture(server, fb.json.request_id, key)).status, 200)
      assert.isObject((yield* awaitFuture(server, step.json.request_id, key)).json.metrics)
      steps += 1
      if (steps % 3 === 0) {
        const saved = yield* postJson(server, "/save_weights_for_sampler", {
          model_id: modelId,
          seq_id: seq++,
          sampling_session_seq_id: samplers++
        }, key)
        const sampler = (yield* awaitFuture(server, saved.json.request_id, key)).json.sampling_session_id
        const sampled = yield* postJson(server, "/asample", {
          sampling_session_id: sampler,
          seq_id: 0,
          num_samples: 2,
          prompt: fromInts([1, 2, 3]),
          sampling_params: { max_tokens: 3, seed: index, temperature: 1 }
        }, key)
        assert.strictEqual((yield* awaitFuture(server, sampled.json.request_id, key)).json.type, "sample")
      }
      // Another client's latest result and model: both must read as unknown.
      const other = (index + 1 + (steps % (clients - 1))) % clients
      const future = seen.futures[other]
      const model = seen.models[other]
      if (future !== undefined && model !== undefined) {
        seen.attempts += 1
        const theirs = yield* postJson(server, "/retrieve_future", { request_id: future }, key)
        const info = yield* postJson(server, "/get_info", { model_id: model }, key)
        if (theirs.status !== 404) seen.breaches.push(`client ${index} read a result of client ${other}: ${theirs.status}`)
        if (info.status !== 404) seen.breaches.push(`client ${index} read the model of client ${other}: ${info.status}`)
      }
    }
    if (unloadAtEnd) {
      const unloaded = yield* postJson(server, "/unload_model", { model_id: modelId }, key)
      yield* awaitFuture(server, unloaded.json.request_id, key)
    }
    return steps
  })

describe("sous serve under load", () => {
  it.live(`serves ${clients} clients with their own keys at once, none reaching another's, and gives all memory back`, () =>
    withBackend(Effect.gen(function*() {
      const keys = Array.from({ length: clients }, (_, i) => ({ name: `client-${i}`, key: `tml-load-client-${i}-key` }))
      const server = yield* keyedServer(keys, { idleTtlMs: 3000, futureTtlMs: 2000 })
      /** Every client at once for `ms`; half unload their models, the others leave them to expire. Then all is freed. */
      const round = (ms: number) =>
        Effect.gen(function*() {
          const seen: Seen = { futures: [], models: [], attempts: 0, breaches: [] }
          const deadline = Date.now() + ms
          const steps = yield* Effect.forEach(
            Array.from({ length: clients }, (_, i) => i),
            (i) => client(server, i, seen, deadline, i % 2 === 0),
            { concurrency: "unbounded" }
          )
          const held = server.stats().memoryBytes
          yield* until(() => server.stats().models === 0 && server.stats().samplingSessions === 0)
          // Results, replayable answers and sessions go after their own times to live.
          yield* Effect.sleep(3500)
          return { seen, steps, held }
        })
      // A first short round, so what first use loads once (kernels, compiled code, connections) is in the baseline.
      yield* round(1000)
      const tensorsBefore = tf.memory().numBytes
      const heapBefore = heapUsed()

      const { seen, steps, held } = yield* round(loadMs)
      assert.deepStrictEqual(seen.breaches, [])
      assert.isAbove(seen.attempts, clients)
      for (const count of steps) assert.isAbove(count, 0)
      assert.isAbove(held, 0)
      assert.strictEqual(server.stats().memoryBytes, 0)
      assert.strictEqual(tf.memory().numBytes, tensorsBefore)
      const heapAfter = heapUsed()
      assert.isBelow(Math.abs(heapAfter - heapBefore) / heapBefore, 0.1, `heap ${heapBefore} -> ${heapAfter}`)
    })), 120_000)
})
