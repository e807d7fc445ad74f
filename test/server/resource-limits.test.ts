import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { estimateSamplingMemory, estimateStepActivations, estimateTrainingMemory } from "../../src/adapters/local/index.js"
import {
  adam,
  asKey,
  awaitFuture,
  createModel,
  createSession,
  keyedServer,
  postForwardBackward,
  postJson,
  request,
  sequenceDatum,
  sessionAndModel,
  testServer,
  tinyArchitecture,
  until,
  withBackend
} from "./fixtures.js"
import { tempDirectory } from "../support/temp-directory.js"

const alice = "tml-alice-key-0c4e91"
const bob = "tml-bob-key-77d2a0"
const tinyBytes = estimateTrainingMemory(tinyArchitecture).bytes

type Server = Parameters<typeof postJson>[0]

const createBody = (sessionId: string, seq: number, architecture: unknown = tinyArchitecture) => ({
  session_id: sessionId,
  model_seq_id: seq,
  base_model: "tiny",
  user_metadata: { sous: { architecture, seed: 1 } }
})

/** Unloads a model and waits for the answer. */
const unload = (server: Server, modelId: string, key: string) =>
  Effect.flatMap(postJson(server, "/unload_model", { model_id: modelId }, asKey(key)), (answer) =>
    awaitFuture(server, answer.json.request_id, asKey(key)))

describe("sous serve: resource limits", () => {
  it.live("refuses a model too large for any budget at once, saying which limit and by how much, and keeps answering", () =>
    withBackend(Effect.gen(function*() {
      const server = yield* testServer({ memoryBudgetBytes: 8 * 1024 ** 3 })
      const sessionId = yield* createSession(server)
      const huge = { ...tinyArchitecture, width: 65536, heads: 4, vocabSize: 256, contextLength: 64, layers: 2 }
      const started = Date.now()
      const refused = yield* postJson(server, "/create_model", createBody(sessionId, 0, huge))
      // Refused before anything is built (building it would take minutes and ~1.5 TB); the
      // bound is loose for a loaded machine.
      assert.isBelow(Date.now() - started, 10_000)
      assert.strictEqual(refused.status, 413)
      const needed = estimateTrainingMemory(huge)
      assert.strictEqual(
        refused.json.error,
        `create_model: the model needs ${(needed.bytes / 1024 ** 3).toFixed(1)} GiB (${(needed.parameters / 1e9).toFixed(1)} G parameters ` +
          `with gradients and AdamW state) and key default has 8.0 GiB of its 8.0 GiB memory budget left, ` +
          `${((needed.bytes - 8 * 1024 ** 3) / 1024 ** 3).toFixed(1)} GiB too little`
      )
      const healthStarted = Date.now()
      assert.strictEqual((yield* request(server, "/healthz", { method: "GET" })).status, 200)
      assert.isBelow(Date.now() - healthStarted, 10_000)
      assert.strictEqual(server.stats().memoryBytes, 0)
      // Nothing was registered: a small model of the same seq is made as usual.
      assert.match(yield* createModel(server, sessionId, 0), /:train:0$/)
    })))

  it.live("holds each key to its model quota and memory budget, and the server to its own, freeing both on unload", () =>
    withBackend(Effect.gen(function*() {
      const server = yield* keyedServer([
        { name: "alice", key: alice, quota: { maxModels: 2 } },
        { name: "bob", key: bob, quota: { memoryBytes: tinyBytes + 1 } }
      ], { memoryBudgetBytes: 2 * tinyBytes + 1 })
      const aliceSession = yield* createSession(server, asKey(alice))
      const bobSession = yield* createSession(server, asKey(bob))
      yield* createModel(server, aliceSession, 0, 1, asKey(alice))
      const bobModel = yield* createModel(server, bobSession, 0, 1, asKey(bob))
      assert.strictEqual(server.stats().memoryBytes, 2 * tinyBytes)

      // Alice has room in her own quota, but the server has not.
      const overServer = yield* postJson(server, "/create_model", createBody(aliceSession, 1), asKey(alice))
      assert.strictEqual(overServer.status, 413)
      assert.match(overServer.json.error, /^create_model: the model needs \d+ KiB \(\d+ k parameters with gradients and AdamW state\) and the server has 1 KiB of its \d+ KiB memory budget left, \d+ KiB too little$/)
      // Bob's own budget holds one tiny model.
      const overKey = yield* postJson(server, "/create_model", createBody(bobSession, 1), asKey(bob))
      assert.strictEqual(overKey.status, 413)
      assert.match(overKey.json.error, /and key bob has 1 KiB of its \d+ KiB memory budget left, \d+ KiB too little$/)
      assert.notInclude(overKey.json.error, bob)

      // An unload gives its memory back once the model is freed: Alice's second model fits now.
      yield* unload(server, bobModel, bob)
      yield* until(() => server.stats().memoryBytes === tinyBytes)
      yield* createModel(server, aliceSession, 1, 1, asKey(alice))
      assert.strictEqual(server.stats().memoryBytes, 2 * tinyBytes)
      const third = yield* postJson(server, "/create_model", createBody(aliceSession, 2), asKey(alice))
      assert.strictEqual(third.status, 413)
      assert.strictEqual(third.json.error, "create_model: key alice holds 2 models, its limit (maxModels 2); unload one first")
    })))

  it.live("refuses a batch whose activations do not fit the key's budget with 413, and the model's next seq_id runs", () =>
    withBackend(Effect.gen(function*() {
      // A small model, a long context: its weights fit, a batch of full rows does not.
      const longContext = { ...tinyArchitecture, contextLength: 4096 }
      const budget = estimateTrainingMemory(longContext).bytes + 64 * 1024 ** 2
      const server = yield* keyedServer([{ name: "alice", key: alice, quota: { memoryBytes: budget } }])
      const session = yield* createSession(server, asKey(alice))
      const created = yield* postJson(server, "/create_model", createBody(session, 0, longContext), asKey(alice))
      const modelId = (yield* awaitFuture(server, created.json.request_id, asKey(alice))).json.model_id as string
      const rows = Array.from({ length: 8 }, () => sequenceDatum(Array.from({ length: 4097 }, (_, i) => i % 16)))
      const needed = estimateStepActivations(longContext, rows.map(() => 4096))
      const refused = yield* postForwardBackward(server, { model_id: modelId, seq_id: 1, data: rows }, asKey(alice))
      assert.strictEqual(refused.status, 413)
      assert.match(refused.json.error, new RegExp(`^forward_backward: the activations of 8 rows need ${(needed / 1024 ** 3).toFixed(1)} GiB and key alice has`))
      const next = yield* postJson(server, "/optim_step", { model_id: modelId, seq_id: 2, adam_params: adam() }, asKey(alice))
      assert.strictEqual((yield* awaitFuture(server, next.json.request_id, asKey(alice))).status, 200)
    })))

  it.live("an unloaded model whose requests wait behind a gap holds its budget until they are refused and it is freed", () =>
    withBackend(Effect.gen(function*() {
      const server = yield* keyedServer([{ name: "alice", key: alice, quota: { memoryBytes: tinyBytes + 1 } }], { gapTimeoutMs: 500 })
      const session = yield* createSession(server, asKey(alice))
      const modelId = yield* createModel(server, session, 0, 1, asKey(alice))
      // seq_id 1 never comes, so seq_id 2 (and the model's memory) waits for the gap timeout.
      const stranded = yield* postJson(server, "/optim_step", { model_id: modelId, seq_id: 2, adam_params: adam() }, asKey(alice))
      yield* unload(server, modelId, alice)
      const meanwhile = yield* postJson(server, "/create_model", createBody(session, 1), asKey(alice))
      assert.strictEqual(meanwhile.status, 413)
      assert.strictEqual(server.stats().memoryBytes, tinyBytes)
      assert.include((yield* awaitFuture(server, stranded.json.request_id, asKey(alice))).json.error, "never arrived")
      yield* until(() => server.stats().memoryBytes === 0)
      yield* createModel(server, session, 2, 1, asKey(alice))
    })))

  it.live("frees models, sampling sessions and client sessions that stay idle past the time to live, with their memory", () =>
    withBackend(Effect.gen(function*() {
      const server = yield* testServer({ idleTtlMs: 1500 })
      const sessionId = yield* createSession(server)
      const modelId = yield* createModel(server, sessionId)
      const sampler = yield* postJson(server, "/create_sampling_session", {
        session_id: sessionId,
        sampling_session_seq_id: 0,
        base_model: "tiny",
        sous: { architecture: tinyArchitecture, seed: 1 }
      })
      assert.strictEqual(sampler.status, 200, sampler.text)
      assert.strictEqual(server.stats().memoryBytes, tinyBytes + estimateSamplingMemory(tinyArchitecture).bytes)
      // Used within the time to live, it stays, longer than the time to live.
      for (let i = 0; i < 6; i++) {
        yield* Effect.sleep(300)
        assert.strictEqual((yield* postJson(server, "/get_info", { model_id: modelId })).status, 200)
      }
      assert.strictEqual(server.stats().models, 1)
      // The budget comes back as the model's scope closes, just after it leaves the server's list.
      yield* until(() => server.stats().models === 0 && server.stats().samplingSessions === 0 && server.stats().memoryBytes === 0)
      assert.strictEqual((yield* postJson(server, "/get_info", { model_id: modelId })).status, 404)
      // The client session goes once it holds nothing and sends no heartbeat.
      yield* Effect.sleep(2000)
      assert.strictEqual((yield* postJson(server, "/session_heartbeat", { session_id: sessionId })).status, 404)
    })))

  it.live("deletes a checkpoint saved with ttl_seconds once it runs out, also after a restart", () =>
    withBackend(Effect.gen(function*() {
      const stateDir = yield* tempDirectory("serve-ttl")
      const save = (server: Server, modelId: string, seq: number, name: string, ttl: number | undefined) =>
        Effect.flatMap(
          postJson(server, "/save_weights", { model_id: modelId, seq_id: seq, path: name, ...(ttl === undefined ? {} : { ttl_seconds: ttl }) }),
          (submitted) => awaitFuture(server, submitted.json.request_id)
        )
      const file = (modelId: string, name: string) => path.join(stateDir, "tenants", "default", encodeURIComponent(modelId), "weights", `${name}.state`)

      const first = yield* testServer({ stateDir, idleTtlMs: 4000 })
      const { modelId } = yield* sessionAndModel(first)
      yield* save(first, modelId, 1, "brief", 1)
      yield* save(first, modelId, 2, "kept", undefined)
      // Long enough to outlive the first server, whose sweeps come a second apart, on a loaded machine.
      yield* save(first, modelId, 3, "restarted", 6)
      assert.isTrue(fs.existsSync(file(modelId, "brief")))
      yield* until(() => !fs.existsSync(file(modelId, "brief")))
      const loaded = yield* Effect.flatMap(
        postJson(first, "/load_weights", { model_id: modelId, seq_id: 4, path: `tinker://${modelId}/weights/brief`, optimizer: true }),
        (submitted) => awaitFuture(first, submitted.json.request_id)
      )
      assert.include(loaded.json.error, "no checkpoint at")
      yield* first.close

      // A new server over the same directory deletes what the first one was to delete.
      assert.isTrue(fs.existsSync(file(modelId, "restarted")))
      yield* testServer({ stateDir, idleTtlMs: 4000 })
      yield* until(() => !fs.existsSync(file(modelId, "restarted")))
      assert.isTrue(fs.existsSync(file(modelId, "kept")))
    })))
})
