import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { decodeSampleResponse } from "../../src/protocol/proto-messages.js"
import { fromInts, TrainingBackend } from "../../src/ports/index.js"
import {
  awaitFuture,
  createSession,
  postJson,
  request,
  sessionAndModel,
  testServer,
  tinyArchitecture,
  withBackend
} from "./fixtures.js"

type Server = Parameters<typeof postJson>[0]

const prompt = fromInts([1, 2, 3])
const params = { max_tokens: 4, seed: 11, temperature: 1 }

/** Opens a sampling session over the tiny model's seed-`seed` initialisation. */
const baseSession = (server: Server, sessionId: string, seq: number, seed = 7) =>
  postJson(server, "/create_sampling_session", {
    session_id: sessionId,
    sampling_session_seq_id: seq,
    base_model: "tiny",
    sous: { architecture: tinyArchitecture, seed },
    type: "create_sampling_session"
  })

const sample = (server: Server, samplingSessionId: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const submitted = yield* postJson(server, "/asample", {
      sampling_session_id: samplingSessionId,
      seq_id: 0,
      num_samples: 2,
      prompt,
      sampling_params: params,
      type: "sample",
      ...extra
    }, headers)
    if (submitted.status !== 200) return submitted
    return yield* awaitFuture(server, submitted.json.request_id, headers)
  })

describe("sous serve: sampling", () => {
  it.live("samples from a base model as an in-process sampler does, with prompt logprobs and as protobuf", () =>
    withBackend(Effect.gen(function*() {
      const backend = yield* TrainingBackend
      const local = yield* backend.createSamplingClient({ baseModel: "tiny", architecture: tinyArchitecture, seed: 7 })
      const expected = yield* (yield* local.sample(prompt, 2, { ...params, top_k: -1, top_p: 1 })).result
      const expectedLogprobs = yield* (yield* local.computeLogprobs(prompt)).result

      const server = yield* testServer()
      const sessionId = yield* createSession(server)
      const created = yield* baseSession(server, sessionId, 0)
      assert.deepStrictEqual(created.json, { type: "create_sampling_session", sampling_session_id: `${sessionId}:sample:0` })
      const id = created.json.sampling_session_id
      assert.deepStrictEqual((yield* sample(server, id)).json, { ...expected, type: "sample" })
      const withLogprobs = yield* sample(server, id, { prompt_logprobs: true })
      assert.deepStrictEqual(withLogprobs.json.prompt_logprobs, expectedLogprobs)
      assert.strictEqual(withLogprobs.json.prompt_logprobs[0], null)
      const proto = yield* sample(server, id, { prompt_logprobs: true }, { accept: "application/x-protobuf" })
      assert.strictEqual(proto.headers.get("content-type"), "application/x-protobuf")
      assert.deepStrictEqual(decodeSampleResponse(proto.bytes), { ...expected, prompt_logprobs: expectedLogprobs })

      const topk = yield* sample(server, id, { topk_prompt_logprobs: 3 })
      assert.strictEqual(topk.status, 400)
      assert.deepStrictEqual(topk.json, { error: "topk_prompt_logprobs: this server computes no top-k prompt logprobs; send 0" })
      const unknown = yield* sample(server, "nobody:sample:0")
      assert.strictEqual(unknown.status, 404)
      const noSource = yield* postJson(server, "/create_sampling_session", { session_id: sessionId, sampling_session_seq_id: 1 })
      assert.deepStrictEqual(noSource.json, { error: "model_path or base_model: give the weights to sample from" })
      // The backend refuses a bad request at submission: the future fails as the user's.
      const tooLong = yield* sample(server, id, { prompt: fromInts([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) })
      assert.strictEqual(tooLong.json.category, "user")
    })))

  it.live("samples from saved sampler weights, named or as the sampling session the save creates", () =>
    withBackend(Effect.gen(function*() {
      const server = yield* testServer()
      const { modelId, sessionId } = yield* sessionAndModel(server, 7)
      // An untrained model of seed 7 samples as the base model of seed 7 does.
      const base = (yield* baseSession(server, sessionId, 0)).json.sampling_session_id
      const expected = (yield* sample(server, base)).json

      const saved = yield* postJson(server, "/save_weights_for_sampler", { model_id: modelId, seq_id: 1, path: "fresh" })
      const savedPath = `tinker://${modelId}/sampler_weights/fresh`
      assert.deepStrictEqual((yield* awaitFuture(server, saved.json.request_id)).json, { path: savedPath, type: "save_weights_for_sampler" })
      const fromPath = yield* postJson(server, "/create_sampling_session", { session_id: sessionId, sampling_session_seq_id: 1, model_path: savedPath })
      assert.deepStrictEqual((yield* sample(server, fromPath.json.sampling_session_id)).json, expected)

      const ephemeral = yield* postJson(server, "/save_weights_for_sampler", { model_id: modelId, seq_id: 2, sampling_session_seq_id: 2 })
      const session = yield* awaitFuture(server, ephemeral.json.request_id)
      assert.deepStrictEqual(session.json, { sampling_session_id: `${sessionId}:sample:2`, type: "save_weights_for_sampler" })
      assert.deepStrictEqual((yield* sample(server, session.json.sampling_session_id)).json, expected)

      // What the SDK's SamplingClient.get_base_model reads, for every way a session is made.
      const described = (id: string) => Effect.map(request(server, `/samplers/${id}`, { method: "GET" }), (answer) => answer.json)
      assert.deepStrictEqual(yield* described(base), { sampler_id: base, base_model: "tiny" })
      assert.deepStrictEqual(yield* described(fromPath.json.sampling_session_id), {
        sampler_id: fromPath.json.sampling_session_id,
        base_model: "tiny",
        model_path: savedPath
      })
      assert.deepStrictEqual(yield* described(session.json.sampling_session_id), { sampler_id: session.json.sampling_session_id, base_model: "tiny" })
      const unknown = yield* request(server, `/samplers/${sessionId}:sample:9`, { method: "GET" })
      assert.deepStrictEqual([unknown.status, unknown.json], [404, { error: `unknown sampler "${sessionId}:sample:9"` }])

      const missing = yield* postJson(server, "/create_sampling_session", {
        session_id: sessionId,
        sampling_session_seq_id: 3,
        model_path: `tinker://${modelId}/sampler_weights/never`
      })
      assert.strictEqual(missing.status, 404)
      assert.deepStrictEqual(missing.json, { error: `no checkpoint at tinker://${modelId}/sampler_weights/never` })
    })))

  it.live("loads at most samplerLimit sampling sessions, freeing the least recently used and building a freed one again when used", () =>
    withBackend(Effect.gen(function*() {
      const server = yield* testServer({ samplerLimit: 2 })
      const sessionId = yield* createSession(server)
      const ids: Array<string> = []
      for (let seq = 0; seq < 3; seq++) ids.push((yield* baseSession(server, sessionId, seq)).json.sampling_session_id)
      assert.strictEqual(server.stats().samplingSessions, 2)
      // Session 0 was freed; using it builds it again and frees session 1, the least recently used.
      const rebuilt = yield* sample(server, ids[0]!)
      assert.strictEqual(rebuilt.status, 200)
      assert.strictEqual(server.stats().samplingSessions, 2)
      assert.deepStrictEqual((yield* sample(server, ids[1]!)).json, rebuilt.json)
      ids.push((yield* baseSession(server, sessionId, 3)).json.sampling_session_id)
      for (const id of ids) assert.strictEqual((yield* sample(server, id)).status, 200)
      assert.strictEqual(server.stats().samplingSessions, 2)

      // An RL loop that makes a sampler from its weights every step holds at most the limit.
      const { modelId } = yield* sessionAndModel(server)
      let last = ""
      for (let step = 1; step <= 5; step++) {
        const saved = yield* postJson(server, "/save_weights_for_sampler", { model_id: modelId, seq_id: step, sampling_session_seq_id: 100 + step })
        last = (yield* awaitFuture(server, saved.json.request_id)).json.sampling_session_id
        assert.strictEqual((yield* sample(server, last)).status, 200)
        assert.isAtMost(server.stats().samplingSessions, 2)
      }
      assert.strictEqual(server.stats().samplingSessions, 2)
    })))
})
