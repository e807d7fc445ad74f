import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TrainingBackend } from "../../src/ports/index.js"
import {
  adam,
  type Answer,
  awaitFuture,
  batch,
  createSession,
  postForwardBackward,
  postJson,
  sessionAndModel,
  testServer,
  tinyArchitecture,
  withBackend
} from "./fixtures.js"

/** What an in-process local client answers to forward/backward, a step, then forward, from seed 7. */
const inProcess = Effect.gen(function*() {
  const backend = yield* TrainingBackend
  const client = yield* backend.createTrainingClient({ baseModel: "tiny", architecture: tinyArchitecture, seed: 7 })
  const fb = yield* client.forwardBackward(batch, "cross_entropy")
  const step = yield* client.optimStep(adam())
  const forward = yield* client.forward(batch, "cross_entropy")
  return { fb: yield* fb.result, step: yield* step.result, forward: yield* forward.result }
})

const results = (server: Parameters<typeof awaitFuture>[0], answers: ReadonlyArray<Answer>) =>
  Effect.forEach(answers, (answer) => Effect.map(awaitFuture(server, answer.json.request_id), (done) => done.json))

describe("sous serve: ordering and exactly-once", () => {
  it.live("runs a model's requests in seq_id order when they arrive as 3, 2, 1, with the results of an in-process client", () =>
    withBackend(Effect.gen(function*() {
      const expected = yield* inProcess
      const server = yield* testServer({ pollWaitMs: 50 })
      const { modelId } = yield* sessionAndModel(server)
      const forward = yield* postForwardBackward(server, { model_id: modelId, seq_id: 3, forward_only: true })
      const step = yield* postJson(server, "/optim_step", { model_id: modelId, seq_id: 2, adam_params: adam() })
      // Nothing runs before seq_id 1 arrives.
      const waiting = yield* postJson(server, "/retrieve_future", { request_id: forward.json.request_id })
      assert.strictEqual(waiting.json.type, "try_again")
      assert.strictEqual(server.stats().optimizerSteps, 0)
      const fb = yield* postForwardBackward(server, { model_id: modelId, seq_id: 1 })
      const [fbResult, stepResult, forwardResult] = yield* results(server, [fb, step, forward])
      assert.deepStrictEqual(fbResult, expected.fb)
      assert.deepStrictEqual(stepResult, expected.step)
      // The forward pass saw the stepped weights: it ran last although it arrived first.
      assert.deepStrictEqual(forwardResult, expected.forward)
      assert.notDeepEqual(forwardResult.loss_fn_outputs, expected.fb.loss_fn_outputs)
      assert.deepStrictEqual(server.stats().optimizerStepsByModel, { [modelId]: 1 })
    })))

  it.live("runs requests sent all at once in seq_id order, whatever order they land in", () =>
    withBackend(Effect.gen(function*() {
      const expected = yield* inProcess
      const server = yield* testServer()
      const { modelId } = yield* sessionAndModel(server)
      const [forward, step, fb] = yield* Effect.all([
        postForwardBackward(server, { model_id: modelId, seq_id: 3, forward_only: true }),
        postJson(server, "/optim_step", { model_id: modelId, seq_id: 2, adam_params: adam() }),
        postForwardBackward(server, { model_id: modelId, seq_id: 1 })
      ], { concurrency: "unbounded" })
      const [fbResult, stepResult, forwardResult] = yield* results(server, [fb!, step!, forward!])
      assert.deepStrictEqual({ fb: fbResult, step: stepResult, forward: forwardResult }, expected)
    })))

  it.live("answers a repeated seq_id with the first request's future and applies it once", () =>
    withBackend(Effect.gen(function*() {
      const server = yield* testServer()
      const { modelId } = yield* sessionAndModel(server)
      const fb = yield* postForwardBackward(server, { model_id: modelId, seq_id: 1 })
      const copies = yield* Effect.all(
        Array.from({ length: 4 }, () => postJson(server, "/optim_step", { model_id: modelId, seq_id: 2, adam_params: adam() })),
        { concurrency: "unbounded" }
      )
      const ids = new Set(copies.map((copy) => copy.json.request_id))
      assert.strictEqual(ids.size, 1)
      // Even a different body under a used seq_id gets the original: the seq_id is the identity.
      const other = yield* postJson(server, "/optim_step", { model_id: modelId, seq_id: 2, adam_params: adam(0.5) })
      assert.strictEqual(other.json.request_id, copies[0]!.json.request_id)
      yield* awaitFuture(server, fb.json.request_id)
      const stepped = yield* awaitFuture(server, other.json.request_id)
      assert.strictEqual(stepped.json.metrics["learning_rate:mean"], 0.01)
      assert.strictEqual(server.stats().optimizerSteps, 1)
    })))

  it.live("replays the first answer to a repeated X-Idempotency-Key, status and body, applying the request once", () =>
    withBackend(Effect.gen(function*() {
      const server = yield* testServer()
      const { modelId } = yield* sessionAndModel(server)
      const key = { "x-idempotency-key": "step-one" }
      const first = yield* postJson(server, "/optim_step", { model_id: modelId, seq_id: 1, adam_params: adam() }, key)
      const retry = yield* postJson(server, "/optim_step", { model_id: modelId, seq_id: 1, adam_params: adam() }, key)
      assert.strictEqual(retry.status, first.status)
      assert.strictEqual(retry.text, first.text)
      yield* awaitFuture(server, first.json.request_id)
      assert.strictEqual(server.stats().optimizerSteps, 1)
      // A refused request is replayed as refused, even once the refusal no longer holds.
      const badKey = { "x-idempotency-key": "bad-one" }
      const refused = yield* postJson(server, "/optim_step", { model_id: modelId, seq_id: 0, adam_params: adam() }, badKey)
      assert.strictEqual(refused.status, 400)
      const replayed = yield* postJson(server, "/optim_step", { model_id: modelId, seq_id: 2, adam_params: adam() }, badKey)
      assert.strictEqual(replayed.status, 400)
      assert.strictEqual(replayed.text, refused.text)
      // Sessions are created once per key too.
      const sessionKey = { "x-idempotency-key": "session-one" }
      const body = { tags: [], sdk_version: "t" }
      const session = yield* postJson(server, "/create_session", body, sessionKey)
      assert.strictEqual((yield* postJson(server, "/create_session", body, sessionKey)).json.session_id, session.json.session_id)
      assert.notStrictEqual((yield* postJson(server, "/create_session", body)).json.session_id, session.json.session_id)
    })))

  it.live("creates a model once per (session_id, model_seq_id)", () =>
    withBackend(Effect.gen(function*() {
      const server = yield* testServer()
      const sessionId = yield* createSession(server)
      const body = {
        session_id: sessionId,
        model_seq_id: 3,
        base_model: "tiny",
        user_metadata: { sous: { architecture: tinyArchitecture, seed: 1 } }
      }
      const [a, b] = yield* Effect.all([postJson(server, "/create_model", body), postJson(server, "/create_model", body)], { concurrency: "unbounded" })
      assert.strictEqual(a!.json.request_id, b!.json.request_id)
      assert.strictEqual(a!.json.model_id, `${sessionId}:train:3`)
      assert.deepStrictEqual((yield* awaitFuture(server, a!.json.request_id)).json, { model_id: `${sessionId}:train:3`, type: "create_model" })
      const unknownSession = yield* postJson(server, "/create_model", { ...body, session_id: "nobody" })
      assert.strictEqual(unknownSession.status, 404)
      assert.deepStrictEqual(unknownSession.json, { error: "unknown session_id \"nobody\": call create_session first" })
      // Without an architecture the local backend cannot build a model: the future says so.
      const bare = yield* postJson(server, "/create_model", { session_id: sessionId, model_seq_id: 4, base_model: "mystery" })
      assert.deepStrictEqual((yield* awaitFuture(server, bare.json.request_id)).json, {
        error: "the local backend builds models from an architecture; none was given for \"mystery\"",
        category: "user"
      })
      // Requests to a model that could not be created fail the same way, in turn.
      const step = yield* postJson(server, "/optim_step", { model_id: `${sessionId}:train:4`, seq_id: 1, adam_params: adam() })
      assert.deepStrictEqual((yield* awaitFuture(server, step.json.request_id)).json, {
        error: `model ${sessionId}:train:4 could not be created: the local backend builds models from an architecture; none was given for "mystery"`,
        category: "user"
      })
    })))
})
