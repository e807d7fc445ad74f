import { assert, describe, it } from "@effect/vitest"
import { createHash } from "node:crypto"
import { Effect } from "effect"
import { fromInts } from "../../src/ports/index.js"
import { makeFutureStore } from "../../src/server/future-store.js"
import {
  adam,
  asKey,
  awaitFuture,
  createModel,
  createSession,
  postForwardBackward,
  postJson,
  request,
  keyedServer,
  tinyArchitecture,
  withBackend
} from "./fixtures.js"

// Two clients of one server, each with its own key.
const alice = "tml-alice-key-0c4e91"
const bob = "tml-bob-key-77d2a0"
const keys = [{ name: "alice", key: alice }, { name: "bob", key: bob }]

type Server = Parameters<typeof postJson>[0]

const samplingParams = { max_tokens: 3, seed: 5, temperature: 1 }

/** Submits a sample request to a session as `key`. */
const submitSample = (server: Server, samplingSessionId: string, key: string) =>
  postJson(server, "/asample", {
    sampling_session_id: samplingSessionId,
    seq_id: 0,
    num_samples: 1,
    prompt: fromInts([1, 2]),
    sampling_params: samplingParams
  }, asKey(key))

/** Samples from a session as `key`; answers the submission if refused, else the result. */
const sample = (server: Server, samplingSessionId: string, key: string) =>
  Effect.gen(function*() {
    const submitted = yield* submitSample(server, samplingSessionId, key)
    return submitted.status === 200 ? yield* awaitFuture(server, submitted.json.request_id, asKey(key)) : submitted
  })

/** A request's future result, as `key`. */
const result = (server: Server, path: string, body: unknown, key: string) =>
  Effect.flatMap(postJson(server, path, body, asKey(key)), (submitted) => awaitFuture(server, submitted.json.request_id, asKey(key)))

/**
 * `answer`'s status and error with `id` (and the model id in it, for a checkpoint path) written
 * as `<id>`, to compare with the answer for an id that does not exist.
 */
const refusal = (answer: { readonly status: number; readonly json: any }, id: string) => ({
  status: answer.status,
  error: String(answer.json?.error).replaceAll(id, "<id>").replaceAll(/^tinker:\/\/([^/]+)\//.exec(id)?.[1] ?? id, "<id>")
})

describe("sous serve: tenancy", () => {
  it.live("shows one key nothing of another's: futures, sessions, models, checkpoints and samplers all read as unknown ids", () =>
    withBackend(Effect.gen(function*() {
      const server = yield* keyedServer(keys)
      // Alice trains a step, saves a checkpoint and sampler weights, and samples.
      const aliceSession = yield* createSession(server, asKey(alice))
      const model = yield* createModel(server, aliceSession, 0, 7, asKey(alice))
      const trained = yield* postForwardBackward(server, { model_id: model, seq_id: 1 }, asKey(alice))
      assert.strictEqual((yield* awaitFuture(server, trained.json.request_id, asKey(alice))).status, 200)
      const saved = yield* result(server, "/save_weights", { model_id: model, seq_id: 2, path: "mine" }, alice)
      const checkpoint = saved.json.path as string
      assert.match(checkpoint, /^tinker:\/\//, saved.text)
      const forSampler = yield* result(server, "/save_weights_for_sampler", { model_id: model, seq_id: 3, path: "pol" }, alice)
      const sampler = (yield* postJson(server, "/create_sampling_session", {
        session_id: aliceSession,
        sampling_session_seq_id: 0,
        model_path: forSampler.json.path
      }, asKey(alice))).json.sampling_session_id as string
      const sampled = yield* submitSample(server, sampler, alice)
      assert.strictEqual(sampled.status, 200, sampled.text)
      const aliceFuture = sampled.json.request_id as string
      const aliceResult = yield* awaitFuture(server, aliceFuture, asKey(alice))
      assert.strictEqual(aliceResult.json.type, "sample", aliceResult.text)

      // Bob, with a session and a model of his own, tries each of Alice's ids, and an id of the
      // same kind that does not exist: the answers must not tell them apart.
      const bobSession = yield* createSession(server, asKey(bob))
      const bobModel = yield* createModel(server, bobSession, 0, 7, asKey(bob))
      const asBob = (path: string, body: unknown) => postJson(server, path, body, asKey(bob))
      const same = function*(
        ask: (id: string) => Effect.Effect<{ readonly status: number; readonly json: any }>,
        aliceId: string,
        unknownId: string
      ) {
        const theirs = refusal(yield* ask(aliceId), aliceId)
        assert.strictEqual(theirs.status, 404, `${aliceId}: ${theirs.error}`)
        assert.deepStrictEqual(theirs, refusal(yield* ask(unknownId), unknownId))
      }
      // Her id with its last characters changed: an id of this server's form never issued.
      const unknownFuture = `${aliceFuture.slice(0, -4)}${aliceFuture.endsWith("AAAA") ? "BBBB" : "AAAA"}`
      yield* same((id) => asBob("/retrieve_future", { request_id: id }), aliceFuture, unknownFuture)
      yield* same((id) => asBob("/session_heartbeat", { session_id: id }), aliceSession, crypto.randomUUID())
      yield* same(
        (id) => asBob("/create_model", { session_id: id, model_seq_id: 0, base_model: "tiny", user_metadata: { sous: { architecture: tinyArchitecture, seed: 1 } } }),
        aliceSession,
        crypto.randomUUID()
      )
      yield* same((id) => asBob("/create_sampling_session", { session_id: id, sampling_session_seq_id: 0, base_model: "tiny" }), aliceSession, crypto.randomUUID())
      const unknownModel = `${crypto.randomUUID()}:train:0`
      yield* same((id) => asBob("/get_info", { model_id: id }), model, unknownModel)
      yield* same((id) => asBob("/unload_model", { model_id: id }), model, unknownModel)
      yield* same((id) => asBob("/optim_step", { model_id: id, seq_id: 4, adam_params: adam() }), model, unknownModel)
      yield* same((id) => postForwardBackward(server, { model_id: id, seq_id: 4 }, asKey(bob)), model, unknownModel)
      yield* same((id) => asBob("/save_weights", { model_id: id, seq_id: 4, path: "mine", overwrite: true }), model, unknownModel)
      const unknownCheckpoint = `tinker://${unknownModel}/weights/mine`
      yield* same((id) => asBob("/weights_info", { tinker_path: id }), checkpoint, unknownCheckpoint)
      const bobSampling = (path: string) =>
        asBob("/create_sampling_session", { session_id: bobSession, sampling_session_seq_id: 1, model_path: path })
      yield* same(bobSampling, forSampler.json.path, `tinker://${unknownModel}/sampler_weights/pol`)
      const unknownSampler = `${crypto.randomUUID()}:sample:0`
      yield* same((id) => sample(server, id, bob), sampler, unknownSampler)
      yield* same((id) => request(server, `/samplers/${encodeURIComponent(id)}`, { method: "GET", headers: asKey(bob) }), sampler, unknownSampler)

      // Loading Alice's checkpoint into his own model fails as loading one that does not exist.
      const load = (path: string, seq: number) => result(server, "/load_weights", { model_id: bobModel, seq_id: seq, path, optimizer: true }, bob)
      const loadTheirs = yield* load(checkpoint, 1)
      assert.strictEqual(loadTheirs.json.category, "user")
      assert.strictEqual(
        loadTheirs.json.error.replaceAll(checkpoint, "<path>"),
        (yield* load(unknownCheckpoint, 2)).json.error.replaceAll(unknownCheckpoint, "<path>")
      )

      // A replayed idempotency key answers only its own key's request.
      const idempotent = (key: string) =>
        postJson(server, "/create_session", { tags: [], sdk_version: "test" }, { ...asKey(key), "x-idempotency-key": "shared-key-1" })
      const aliceAgain = (yield* idempotent(alice)).json.session_id
      assert.notStrictEqual((yield* idempotent(bob)).json.session_id, aliceAgain)
      assert.strictEqual((yield* idempotent(alice)).json.session_id, aliceAgain)

      // None of Bob's tries touched Alice's things: her model trains on in order, her result
      // is still hers, her sampler samples.
      const next = yield* result(server, "/optim_step", { model_id: model, seq_id: 4, adam_params: adam() }, alice)
      assert.isObject(next.json.metrics, next.text)
      assert.deepStrictEqual((yield* awaitFuture(server, aliceFuture, asKey(alice))).json, aliceResult.json)
      assert.strictEqual((yield* sample(server, sampler, alice)).json.type, "sample")
      const info = yield* postJson(server, "/weights_info", { tinker_path: checkpoint }, asKey(alice))
      assert.strictEqual(info.json.base_model, "tiny")
    })))

  it.live("takes keys given as their SHA-256, and refuses a keys list it cannot tell apart, never showing a key", () =>
    withBackend(Effect.gen(function*() {
      const carol = "tml-carol-key-5e0b3d"
      const server = yield* keyedServer([{ name: "carol", sha256: createHash("sha256").update(carol).digest("hex") }])
      assert.strictEqual((yield* postJson(server, "/create_session", { tags: [], sdk_version: "test" }, asKey(carol))).status, 200)
      assert.strictEqual((yield* postJson(server, "/create_session", { tags: [], sdk_version: "test" }, asKey(alice))).status, 401)
      const refused = (keys: Parameters<typeof keyedServer>[0]) => Effect.map(Effect.flip(keyedServer(keys)), (error) => error.message)
      assert.strictEqual(
        yield* refused([{ name: "alice", key: alice }, { name: "al", sha256: createHash("sha256").update(alice).digest("hex") }]),
        "keys[1] (al): the key is already given to alice"
      )
      assert.strictEqual(yield* refused([{ name: "alice", key: alice }, { name: "alice", key: bob }]), "keys[1] (alice): the name (in any case) is already given to alice")
      // One checkpoint directory on a case-insensitive file system.
      assert.strictEqual(yield* refused([{ name: "alice", key: alice }, { name: "Alice", key: bob }]), "keys[1] (Alice): the name (in any case) is already given to alice")
      assert.strictEqual(yield* refused([{ name: "x", key: alice, sha256: "ab" }]), "keys[0] (x): give either key or sha256")
      assert.strictEqual(yield* refused([{ name: "../x", key: alice }]), "keys[0].name must be 1 to 64 letters, digits, _ or -")
    })))

  it("issues request ids that are unguessable, and tells an expired id from one never issued to the same key", () => {
    let clock = 0
    const store = makeFutureStore(1000, () => clock)
    const ids = Array.from({ length: 1000 }, () => store.create("alice").requestId)
    const instance = ids[0]!.split("-")[0]!
    const randomParts = ids.map((id) => {
      assert.isTrue(id.startsWith(`${instance}-`), id)
      return Buffer.from(id.slice(instance.length + 1), "base64url")
    })
    for (const part of randomParts) assert.strictEqual(part.length, 16)
    // No two share their first 64 bits.
    assert.strictEqual(new Set(randomParts.map((part) => part.subarray(0, 8).toString("hex"))).size, 1000)
    // Consecutive ids differ in about half their 128 bits, as independent draws do (a counter
    // differs in one or two): none tells anything of the next.
    const bitsApart = (a: Buffer, b: Buffer) => a.reduce((sum, byte, i) => sum + (byte ^ b[i]!).toString(2).replaceAll("0", "").length, 0)
    const distances = randomParts.slice(1).map((part, i) => bitsApart(part, randomParts[i]!))
    const mean = distances.reduce((a, b) => a + b, 0) / distances.length
    assert.isAbove(mean, 60)
    assert.isBelow(mean, 68)
    assert.isAbove(Math.min(...distances), 30)

    // Once expired, the id is told apart from any other only for the key it was issued to.
    const issued = store.create("alice")
    issued.complete({ _tag: "Failed", error: "x", category: "user", timings: { queueMs: 0, computeMs: 0 } })
    assert.strictEqual(store.lookup(issued.requestId, "bob")._tag, "Unknown")
    clock = 5000
    store.sweep()
    assert.strictEqual(store.lookup(issued.requestId, "alice")._tag, "Expired")
    assert.strictEqual(store.lookup(issued.requestId, "bob")._tag, "Unknown")
    // An id one bit away from an issued one was never issued.
    const bytes = Buffer.from(issued.requestId.slice(instance.length + 1), "base64url")
    bytes[15] = bytes[15]! ^ 1
    assert.strictEqual(store.lookup(`${instance}-${bytes.toString("base64url")}`, "alice")._tag, "Unknown")
  })
})
