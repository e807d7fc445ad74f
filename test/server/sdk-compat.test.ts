import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { Effect } from "effect"
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
  request,
  sessionAndModel,
  testServer,
  tinyArchitecture,
  withBackend
} from "./fixtures.js"

// What the official Python SDK needs of the server beyond the protocol itself: it never makes a
// new sampling client for a session it holds, cannot resubmit a training request whose result
// answered 410, and shows the user only the server's words for a 404.

type Server = Parameters<typeof postJson>[0]

const params = { max_tokens: 4, seed: 11, temperature: 1 }

/** Submits a sample to a session; answers the submission's answer. */
const submitSample = (server: Server, samplingSessionId: string, headers: Record<string, string> = {}) =>
  postJson(server, "/asample", {
    sampling_session_id: samplingSessionId,
    seq_id: 0,
    num_samples: 2,
    prompt: fromInts([1, 2, 3]),
    sampling_params: params,
    type: "sample"
  }, headers)

/** Samples from a session: the refusal if refused, else the result. */
const sample = (server: Server, samplingSessionId: string) =>
  Effect.gen(function*() {
    const submitted = yield* submitSample(server, samplingSessionId)
    return submitted.status === 200 ? yield* awaitFuture(server, submitted.json.request_id) : submitted
  })

/** A request's result, once its future is done. */
const result = (server: Server, path: string, body: unknown) =>
  Effect.flatMap(postJson(server, path, body), (submitted) => awaitFuture(server, submitted.json.request_id))

/** Opens a sampling session over saved weights, or the tiny base model of seed `seed`. */
const openSampler = (server: Server, sessionId: string, seq: number, source: { readonly model_path: string } | { readonly seed: number }) =>
  Effect.map(
    postJson(server, "/create_sampling_session", {
      session_id: sessionId,
      sampling_session_seq_id: seq,
      ...("model_path" in source ? source : { base_model: "tiny", sous: { architecture: tinyArchitecture, seed: source.seed } })
    }),
    (answer) => {
      assert.strictEqual(answer.status, 200, answer.text)
      return answer.json.sampling_session_id as string
    }
  )

/** The REST path of a checkpoint, as the SDK's `delete_checkpoint_from_tinker_path` builds it. */
const checkpointRoute = (tinkerPath: string) => `/training_runs/${tinkerPath.slice("tinker://".length).replace("/", "/checkpoints/")}`

describe("sous serve: what the official Python SDK needs", () => {
  it.live("builds a sampling session freed by the sampler limit again when it is used, sampling as before", () =>
    withBackend(Effect.gen(function*() {
      const server = yield* testServer({ samplerLimit: 8 })
      const { sessionId, modelId } = yield* sessionAndModel(server)
      const trained = yield* postForwardBackward(server, { model_id: modelId, seq_id: 1 })
      yield* awaitFuture(server, trained.json.request_id)
      yield* result(server, "/optim_step", { model_id: modelId, seq_id: 2, adam_params: adam() })
      const saved = (yield* result(server, "/save_weights_for_sampler", { model_id: modelId, seq_id: 3, path: "policy" })).json.path as string
      // Ten sessions, as an SDK user who makes a sampling client per evaluation does.
      const first = yield* openSampler(server, sessionId, 0, { model_path: saved })
      const before = yield* sample(server, first)
      assert.strictEqual(before.status, 200)
      const others: Array<string> = []
      for (let seq = 1; seq < 10; seq++) others.push(yield* openSampler(server, sessionId, seq, seq % 2 === 0 ? { model_path: saved } : { seed: seq }))
      assert.strictEqual(server.stats().samplingSessions, 8)
      const after = yield* sample(server, first)
      assert.strictEqual(after.status, 200, after.text)
      assert.deepStrictEqual(after.json, before.json)
      assert.strictEqual(server.stats().samplingSessions, 8)
      for (const id of others) assert.strictEqual((yield* sample(server, id)).status, 200)
      assert.isAtMost(server.stats().samplingSessions, 8)
    })))

  it.live("builds a freed session of weights saved without a name (save_weights_and_get_sampling_client) again", () =>
    withBackend(Effect.gen(function*() {
      const server = yield* testServer({ samplerLimit: 1 })
      const { sessionId, modelId } = yield* sessionAndModel(server)
      const ephemeral = (yield* result(server, "/save_weights_for_sampler", { model_id: modelId, seq_id: 1, sampling_session_seq_id: 0 })).json
        .sampling_session_id as string
      const before = yield* sample(server, ephemeral)
      yield* openSampler(server, sessionId, 1, { seed: 3 })
      assert.strictEqual(server.stats().samplingSessions, 1)
      const after = yield* sample(server, ephemeral)
      assert.strictEqual(after.status, 200, after.text)
      assert.deepStrictEqual(after.json, before.json)
      // An RL loop's sampler per step: the files of freed ones are kept for the 4 most recent only.
      for (let seq = 2; seq <= 6; seq++) yield* result(server, "/save_weights_for_sampler", { model_id: modelId, seq_id: seq, sampling_session_seq_id: seq })
      const dropped = yield* sample(server, ephemeral)
      assert.strictEqual(dropped.status, 404)
      assert.include(dropped.json.error, "its weights are gone: the server keeps the weights of the 4 most recently used freed ones")
      assert.strictEqual((yield* sample(server, `${sessionId}:sample:3`)).status, 200)
    })))

  it.live("answers 404 saying what to run for a freed session whose checkpoint was deleted or overwritten", () =>
    withBackend(Effect.gen(function*() {
      const server = yield* testServer({ samplerLimit: 1 })
      const { sessionId, modelId } = yield* sessionAndModel(server)
      const save = (seq: number, name: string) =>
        Effect.map(result(server, "/save_weights_for_sampler", { model_id: modelId, seq_id: seq, path: name }), (answer) => answer.json.path as string)
      const doomed = yield* save(1, "doomed")
      const replaced = yield* save(2, "replaced")
      const fromDoomed = yield* openSampler(server, sessionId, 0, { model_path: doomed })
      const fromReplaced = yield* openSampler(server, sessionId, 1, { model_path: replaced })
      assert.strictEqual((yield* request(server, checkpointRoute(doomed), { method: "DELETE" })).status, 204)
      const trained = yield* postForwardBackward(server, { model_id: modelId, seq_id: 3 })
      yield* awaitFuture(server, trained.json.request_id)
      yield* result(server, "/optim_step", { model_id: modelId, seq_id: 4, adam_params: adam(0.5) })
      yield* save(5, "replaced")
      // Still loaded, session 1 samples the weights it was made with.
      assert.strictEqual((yield* sample(server, fromReplaced)).status, 200)
      const advice = "Create a new one from weights that exist: service_client.create_sampling_client(" +
        "model_path=\"tinker://<model_id>/sampler_weights/<name>\"), or training_client.save_weights_and_get_sampling_client()"
      const gone = yield* sample(server, fromDoomed)
      assert.strictEqual(gone.status, 404)
      assert.strictEqual(
        gone.json.error,
        `sampling session "${fromDoomed}" was freed to make room (this server loads at most 1 sampling sessions per key at once ` +
          `and builds a freed one again when it is used) and its weights are gone: checkpoint ${doomed} was deleted. ${advice}`
      )
      // Freed to make room, session 1 cannot be built again: its checkpoint holds other weights now.
      yield* openSampler(server, sessionId, 2, { seed: 3 })
      const stale = yield* sample(server, fromReplaced)
      assert.strictEqual(stale.status, 404)
      assert.include(stale.json.error, `its weights are gone: checkpoint ${replaced} was overwritten since. ${advice}`)
      // A new session over the new weights works.
      assert.strictEqual((yield* sample(server, yield* openSampler(server, sessionId, 3, { model_path: replaced }))).status, 200)
    })))

  it.live("tells an id of an earlier run of the server (a restart) from an unknown one, for every key alike", () =>
    withBackend(Effect.gen(function*() {
      const stateDir = yield* Effect.acquireRelease(
        Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "sous-sdk-compat-"))),
        (directory) => Effect.promise(() => fs.rm(directory, { recursive: true, force: true }))
      )
      const keys = [{ name: "alice", key: "tml-alice-key-0c4e91" }, { name: "bob", key: "tml-bob-key-77d2a0" }]
      const alice = asKey(keys[0]!.key)
      const bob = asKey(keys[1]!.key)
      const before = yield* keyedServer(keys, { stateDir })
      const sessionId = yield* createSession(before, alice)
      const modelId = yield* createModel(before, sessionId, 0, 7, alice)
      const step = yield* postJson(before, "/optim_step", { model_id: modelId, seq_id: 1, adam_params: adam() }, alice)
      const saved = yield* postJson(before, "/save_weights", { model_id: modelId, seq_id: 2, path: "last" }, alice)
      const lastState = (yield* awaitFuture(before, saved.json.request_id, alice)).json.path as string
      const sampler = (yield* postJson(before, "/create_sampling_session", {
        session_id: sessionId,
        sampling_session_seq_id: 0,
        base_model: "tiny",
        sous: { architecture: tinyArchitecture, seed: 1 }
      }, alice)).json.sampling_session_id as string
      // Another key's ids read as unknown ones, as before.
      const foreign = yield* postJson(before, "/retrieve_future", { request_id: step.json.request_id }, bob)
      assert.deepStrictEqual([foreign.status, foreign.json], [404, { error: `unknown request_id ${JSON.stringify(step.json.request_id)}` }])
      yield* before.close

      // The server restarted on the same state directory.
      const after = yield* keyedServer(keys, { stateDir })
      const restarted = (what: string, id: string, load = "tinker://<model_id>/weights/<name>") => (answer: { readonly status: number; readonly json: any }) => {
        assert.strictEqual(answer.status, 404)
        const error = answer.json.error as string
        assert.isTrue(error.startsWith(`${what} ${JSON.stringify(id)} was issued by another run of this server`), error)
        assert.include(error, "the server restarted, or another server answered, and the state of in-flight requests, training models and sampling sessions was lost")
        assert.include(error, `training_client.load_state(${JSON.stringify(load)})`)
      }
      // The lost model's last saved state is named to its own key.
      restarted("model_id", modelId, lastState)(yield* postJson(after, "/optim_step", { model_id: modelId, seq_id: 3, adam_params: adam() }, alice))
      restarted("model_id", modelId)(yield* postJson(after, "/optim_step", { model_id: modelId, seq_id: 3, adam_params: adam() }, bob))
      for (const key of [alice, bob]) {
        restarted("request_id", step.json.request_id)(yield* postJson(after, "/retrieve_future", { request_id: step.json.request_id }, key))
        restarted("sampling_session_id", sampler)(yield* submitSample(after, sampler, key))
        restarted("session_id", sessionId)(yield* postJson(after, "/session_heartbeat", { session_id: sessionId }, key))
      }
      // An id this run issued to another key, or never issued, is unknown.
      const mine = yield* createSession(after, bob)
      const theirs = yield* postJson(after, "/session_heartbeat", { session_id: mine }, alice)
      assert.deepStrictEqual([theirs.status, theirs.json], [404, { error: `unknown session_id ${JSON.stringify(mine)}` }])
      const typo = yield* postJson(after, "/retrieve_future", { request_id: "not-an-id" }, alice)
      assert.deepStrictEqual(typo.json, { error: "unknown request_id \"not-an-id\"" })
    })))

  it.live("keeps a training result until it is retrieved, however late, while a sample's expires (the SDK resubmits a 410 sample only)", () =>
    withBackend(Effect.gen(function*() {
      const server = yield* testServer({ futureTtlMs: 200 })
      const { sessionId, modelId } = yield* sessionAndModel(server)
      const step = yield* postJson(server, "/optim_step", { model_id: modelId, seq_id: 1, adam_params: adam() })
      const sampler = yield* openSampler(server, sessionId, 0, { seed: 1 })
      const sampled = yield* submitSample(server, sampler)
      yield* Effect.sleep(400)
      const late = yield* postJson(server, "/retrieve_future", { request_id: step.json.request_id })
      assert.strictEqual(late.status, 200)
      assert.strictEqual(late.json.metrics["learning_rate:mean"], 0.01)
      // Retrieved once, it is kept for futureTtlMs more: a lost reply can be polled again.
      assert.deepStrictEqual((yield* postJson(server, "/retrieve_future", { request_id: step.json.request_id })).json, late.json)
      const expired = yield* postJson(server, "/retrieve_future", { request_id: sampled.json.request_id })
      assert.strictEqual(expired.status, 410)
    })))

  it.live("answers a 410 fault on a training future's poll as a 408 try-again, and on a sample's as a 410", () =>
    withBackend(Effect.gen(function*() {
      const server = yield* testServer({ faults: { rate410: 0.5, seed: 1 } })
      const statuses: Array<{ readonly kind: "training" | "sample"; readonly status: number }> = []
      // Polls as the SDK does: again at once on 408 and try_again; a sample is submitted again on 410.
      const poll = (kind: "training" | "sample", requestId: string) =>
        Effect.gen(function*() {
          while (true) {
            const answer = yield* postJson(server, "/retrieve_future", { request_id: requestId })
            statuses.push({ kind, status: answer.status })
            if (answer.status === 200 && answer.json.type !== "try_again") return answer
            if (answer.status !== 200 && answer.status !== 408) return answer
          }
        })
      const sessionId = yield* createSession(server)
      const created = yield* postJson(server, "/create_model", {
        session_id: sessionId,
        model_seq_id: 0,
        base_model: "tiny",
        user_metadata: { sous: { architecture: tinyArchitecture, seed: 7 } }
      })
      const modelId = (yield* poll("training", created.json.request_id)).json.model_id as string
      for (let seq = 1; seq <= 6; seq += 2) {
        const fb = yield* postForwardBackward(server, { model_id: modelId, seq_id: seq })
        assert.strictEqual((yield* poll("training", fb.json.request_id)).json.loss_fn_output_type, "cross_entropy")
        const step = yield* postJson(server, "/optim_step", { model_id: modelId, seq_id: seq + 1, adam_params: adam() })
        assert.isDefined((yield* poll("training", step.json.request_id)).json.metrics)
      }
      const sampler = yield* openSampler(server, sessionId, 0, { seed: 1 })
      for (let i = 0; i < 4; i++) {
        while (true) {
          const answer = yield* poll("sample", (yield* submitSample(server, sampler)).json.request_id)
          if (answer.status === 200) break
          assert.strictEqual(answer.status, 410)
        }
      }
      const of = (kind: "training" | "sample", status: number) => statuses.filter((s) => s.kind === kind && s.status === status).length
      assert.strictEqual(of("training", 410), 0)
      assert.isAbove(of("training", 408), 0)
      assert.isAbove(of("sample", 410), 0)
      assert.strictEqual(server.stats().optimizerSteps, 3)
      assert.strictEqual(server.stats().faultsByKind["410"], of("sample", 410))
    })))
})
