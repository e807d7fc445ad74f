import * as fs from "node:fs/promises"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { checkpointFile, parseCheckpointPath } from "../../src/server/state-paths.js"
import { tempDirectory } from "../support/temp-directory.js"
import {
  adam,
  apiKey,
  asKey,
  awaitFuture,
  createModel,
  createSession,
  keyedServer,
  postForwardBackward,
  postJson,
  request,
  testServer,
  withBackend
} from "./fixtures.js"

type Server = Parameters<typeof postJson>[0]

/** A request's future result, as `key` (the test key unless given). */
const result = (server: Server, path: string, body: unknown, key = apiKey) =>
  Effect.flatMap(postJson(server, path, body, asKey(key)), (submitted) => awaitFuture(server, submitted.json.request_id, asKey(key)))

/** Saves `name` of `modelId` at `seqId`: trainer state (`save_weights`) or sampler weights; answers its tinker path. */
const save = (server: Server, modelId: string, seqId: number, name: string, kind: "weights" | "sampler_weights" = "weights", key = apiKey) =>
  Effect.map(
    result(server, kind === "weights" ? "/save_weights" : "/save_weights_for_sampler", { model_id: modelId, seq_id: seqId, path: name }, key),
    (done) => {
      assert.strictEqual(done.json?.path, `tinker://${modelId}/${kind}/${name}`, done.text)
      return done.json.path as string
    }
  )

/** A REST call as `key`: `GET` unless said, JSON body when given. */
const rest = (
  server: Server,
  path: string,
  init: { readonly method?: string; readonly body?: unknown; readonly key?: string; readonly headers?: Record<string, string> } = {}
) =>
  request(server, path, {
    method: init.method ?? "GET",
    headers: { ...asKey(init.key ?? apiKey), ...(init.body === undefined ? {} : { "content-type": "application/json" }), ...init.headers },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) })
  })

/** The REST path of a checkpoint, as the SDK builds it: `checkpoint_id` (`<kind>/<name>`) unescaped. */
const checkpointRoute = (tinkerPath: string) => `/training_runs/${tinkerPath.slice("tinker://".length).replace("/", "/checkpoints/")}`

/** The file a checkpoint of the key `owner` is stored in. */
const fileOf = (stateDir: string, tinkerPath: string, owner = "default") => {
  const checkpoint = parseCheckpointPath(tinkerPath)
  if (typeof checkpoint === "string") throw new Error(checkpoint)
  return checkpointFile(stateDir, owner, checkpoint)
}

const exists = (file: string) => Effect.promise(() => fs.access(file).then(() => true, () => false))

/** A load of `tinker://` `path` into `modelId`: the future's final answer. */
const load = (server: Server, modelId: string, seqId: number, path: string) =>
  result(server, "/load_weights", { model_id: modelId, seq_id: seqId, path, optimizer: false })

describe("sous serve: the REST API of the SDK's RestClient", () => {
  it.live("lists the key's training runs and their checkpoints, newest first, page by page", () =>
    withBackend(Effect.gen(function*() {
      const stateDir = yield* tempDirectory("rest-list")
      const server = yield* testServer({ stateDir })
      const sessionId = yield* createSession(server)
      const models = [yield* createModel(server, sessionId, 0), yield* createModel(server, sessionId, 1), yield* createModel(server, sessionId, 2)]
      const [first, second] = models as [string, string, string]
      const trained = yield* save(server, first, 1, "step-1")
      const sampler = yield* save(server, first, 2, "sampler-1", "sampler_weights")
      const other = yield* save(server, second, 1, "final")

      const runs = yield* rest(server, "/training_runs?limit=2")
      assert.strictEqual(runs.status, 200, runs.text)
      assert.deepStrictEqual(runs.json.cursor, { offset: 0, limit: 2, total_count: 3 })
      const next = yield* rest(server, "/training_runs?limit=2&offset=2&access_scope=owned")
      assert.deepStrictEqual(next.json.cursor, { offset: 2, limit: 2, total_count: 3 })
      const listed = [...runs.json.training_runs, ...next.json.training_runs].map((run: any) => run.training_run_id)
      assert.sameMembers(listed, models)
      assert.strictEqual((yield* rest(server, "/training_runs?limit=ten")).status, 400)

      const run = yield* rest(server, `/training_runs/${first}`)
      assert.strictEqual(run.status, 200, run.text)
      assert.include(run.json, { training_run_id: first, base_model: "tiny", model_owner: "default", is_lora: false, corrupted: false, lora_rank: null })
      assert.match(run.json.last_request_time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
      const stat = yield* Effect.promise(() => fs.stat(fileOf(stateDir, trained)))
      assert.deepStrictEqual(run.json.last_checkpoint, {
        checkpoint_id: "weights/step-1",
        checkpoint_type: "training",
        time: new Date(stat.mtimeMs).toISOString(),
        tinker_path: trained,
        size_bytes: stat.size,
        public: false,
        expires_at: null
      })
      assert.include(run.json.last_sampler_checkpoint, { checkpoint_id: "sampler_weights/sampler-1", checkpoint_type: "sampler", tinker_path: sampler })

      const ofRun = yield* rest(server, `/training_runs/${first}/checkpoints`)
      assert.strictEqual(ofRun.json.cursor, null)
      assert.sameMembers(ofRun.json.checkpoints.map((checkpoint: any) => checkpoint.tinker_path), [trained, sampler])
      const mine = yield* rest(server, "/checkpoints?limit=2")
      assert.deepStrictEqual(mine.json.cursor, { offset: 0, limit: 2, total_count: 3 })
      const all = [...mine.json.checkpoints, ...(yield* rest(server, "/checkpoints?offset=2")).json.checkpoints]
      assert.sameMembers(all.map((checkpoint: any) => checkpoint.tinker_path), [trained, sampler, other])
      const times = all.map((checkpoint: any) => Date.parse(checkpoint.time))
      assert.deepStrictEqual(times, [...times].sort((a, b) => b - a))

      // A run outlives its model while it has checkpoints; the settings lived with the model.
      const unloaded = yield* result(server, "/unload_model", { model_id: second })
      assert.strictEqual(unloaded.status, 200, unloaded.text)
      const kept = yield* rest(server, `/training_runs/${second}`)
      assert.strictEqual(kept.status, 200, kept.text)
      assert.include(kept.json.last_checkpoint, { tinker_path: other })
      assert.strictEqual((yield* rest(server, "/training_runs")).json.cursor.total_count, 3)
    })))

  it.live("gives an archive link that downloads the checkpoint, without the key, as a tar", () =>
    withBackend(Effect.gen(function*() {
      const stateDir = yield* tempDirectory("rest-archive")
      const server = yield* testServer({ stateDir })
      const modelId = yield* createModel(server, yield* createSession(server))
      const saved = yield* save(server, modelId, 1, "step-1")
      const link = yield* rest(server, `${checkpointRoute(saved)}/archive`)
      assert.strictEqual(link.status, 200, link.text)
      assert.isAbove(Date.parse(link.json.expires), Date.now() + 14 * 60_000)
      const download = yield* Effect.promise(() => fetch(link.json.url))
      assert.strictEqual(download.status, 200)
      assert.strictEqual(download.headers.get("content-type"), "application/x-tar")
      const tar = new Uint8Array(yield* Effect.promise(() => download.arrayBuffer()))
      const header = new TextDecoder().decode(tar.subarray(0, 512))
      assert.strictEqual(header.slice(0, 16), "checkpoint.state")
      assert.strictEqual(header.slice(257, 262), "ustar")
      const size = parseInt(header.slice(124, 135), 8)
      const bytes = yield* Effect.promise(() => fs.readFile(fileOf(stateDir, saved)))
      assert.deepStrictEqual(tar.subarray(512, 512 + size), new Uint8Array(bytes))
      // Any change to the link makes it worthless.
      const forged = yield* Effect.promise(() => fetch(link.json.url.replace(/\.[^.]*$/, ".AAAA")))
      assert.strictEqual(forged.status, 403)
    })))

  it.live("deletes a checkpoint: it is no longer listed, loading it fails, and deleting it again is a 404", () =>
    withBackend(Effect.gen(function*() {
      const stateDir = yield* tempDirectory("rest-delete")
      const server = yield* testServer({ stateDir })
      const modelId = yield* createModel(server, yield* createSession(server))
      const saved = yield* save(server, modelId, 1, "step-1")
      const kept = yield* save(server, modelId, 2, "step-2")
      const deleted = yield* rest(server, checkpointRoute(saved), { method: "DELETE" })
      assert.strictEqual(deleted.status, 204, deleted.text)
      assert.isFalse(yield* exists(fileOf(stateDir, saved)))
      const listed = yield* rest(server, `/training_runs/${modelId}/checkpoints`)
      assert.deepStrictEqual(listed.json.checkpoints.map((checkpoint: any) => checkpoint.tinker_path), [kept])
      const loaded = yield* load(server, modelId, 3, saved)
      assert.deepStrictEqual(loaded.json, { error: `no checkpoint at ${saved}`, category: "user" })
      assert.strictEqual((yield* load(server, modelId, 4, kept)).json.type, "load_weights")
      const again = yield* rest(server, checkpointRoute(saved), { method: "DELETE" })
      assert.deepStrictEqual({ status: again.status, json: again.json }, { status: 404, json: { error: `no checkpoint at ${saved}` } })

      // An idempotency key replays per checkpoint: the same key on another one deletes that one too.
      const idempotent = { method: "DELETE", headers: { "x-idempotency-key": "delete-1" } }
      assert.strictEqual((yield* rest(server, checkpointRoute(kept), idempotent)).status, 204)
      const third = yield* save(server, modelId, 5, "step-3")
      assert.strictEqual((yield* rest(server, checkpointRoute(third), idempotent)).status, 204)
      assert.isFalse(yield* exists(fileOf(stateDir, third)))
      assert.strictEqual((yield* rest(server, checkpointRoute(kept), idempotent)).status, 204, "a retry replays its first answer")
    })))

  it.live("sets and removes a checkpoint's time to live, refuses one <= 0, and deletes the checkpoint once it has passed", () =>
    withBackend(Effect.gen(function*() {
      const stateDir = yield* tempDirectory("rest-ttl")
      // Results kept 300 ms: the server sweeps (and so expires checkpoints) that often.
      const server = yield* testServer({ stateDir, futureTtlMs: 300 })
      const modelId = yield* createModel(server, yield* createSession(server))
      const saved = yield* save(server, modelId, 1, "step-1")
      const ttl = (ttlSeconds: unknown) => rest(server, `${checkpointRoute(saved)}/ttl`, { method: "PUT", body: { ttl_seconds: ttlSeconds } })
      for (const bad of [0, -5, 2 ** 50]) {
        const refused = yield* ttl(bad)
        assert.strictEqual(refused.status, 400, refused.text)
        assert.match(refused.json.error, /^ttl_seconds must be > 0/)
      }
      const set = yield* ttl(3600)
      assert.strictEqual(set.status, 200, set.text)
      const expiresAt = Date.parse(set.json.expires_at)
      assert.approximately(expiresAt, Date.now() + 3_600_000, 60_000)
      assert.strictEqual((yield* rest(server, `/training_runs/${modelId}`)).json.last_checkpoint.expires_at, set.json.expires_at)
      assert.strictEqual((yield* ttl(null)).json.expires_at, null)
      assert.strictEqual((yield* rest(server, "/checkpoints")).json.checkpoints[0].expires_at, null)

      // A save's own ttl_seconds past what a date can hold is kept to a century, so listings
      // can still print it (they answered 500 before).
      const forever = yield* result(server, "/save_weights", { model_id: modelId, seq_id: 2, path: "forever", ttl_seconds: 1e13 })
      assert.strictEqual(forever.json.path, `tinker://${modelId}/weights/forever`, forever.text)
      const listing = yield* rest(server, "/checkpoints")
      assert.strictEqual(listing.status, 200, listing.text)
      const foreverExpiry = listing.json.checkpoints.find((checkpoint: any) => checkpoint.tinker_path === forever.json.path).expires_at
      assert.approximately(Date.parse(foreverExpiry), Date.now() + 100 * 365 * 24 * 3_600_000, 86_400_000)

      assert.strictEqual((yield* ttl(1)).status, 200)
      const file = fileOf(stateDir, saved)
      yield* Effect.sleep(300)
      assert.isTrue(yield* exists(file), "not yet expired")
      yield* Effect.gen(function*() {
        while (yield* exists(file)) yield* Effect.sleep(20)
      }).pipe(Effect.timeout(5000))
      assert.isFalse(yield* exists(`${file}.expires`))
      assert.deepStrictEqual((yield* rest(server, "/checkpoints")).json.checkpoints.map((checkpoint: any) => checkpoint.tinker_path), [forever.json.path])
      assert.deepStrictEqual((yield* load(server, modelId, 3, saved)).json, { error: `no checkpoint at ${saved}`, category: "user" })
    })))

  it.live("keeps a checkpoint's expiry across a restart of the server", () =>
    withBackend(Effect.gen(function*() {
      const stateDir = yield* tempDirectory("rest-restart")
      const first = yield* testServer({ stateDir })
      const modelId = yield* createModel(first, yield* createSession(first))
      const saved = yield* save(first, modelId, 1, "step-1")
      const set = yield* rest(first, `${checkpointRoute(saved)}/ttl`, { method: "PUT", body: { ttl_seconds: 600 } })
      yield* first.close
      const second = yield* testServer({ stateDir })
      const run = yield* rest(second, `/training_runs/${modelId}`)
      assert.strictEqual(run.status, 200, run.text)
      assert.include(run.json, { base_model: "unknown (the model is no longer held by this server)", is_lora: false })
      assert.deepStrictEqual(run.json.last_checkpoint, set.json)
    })))

  it.live("answers another key 404 on every run and checkpoint, exactly as for ids that do not exist, and changes nothing of the owner's", () =>
    withBackend(Effect.gen(function*() {
      const stateDir = yield* tempDirectory("rest-tenancy")
      const alice = "tml-alice-key-0c4e91"
      const bob = "tml-bob-key-77d2a0"
      const server = yield* keyedServer([{ name: "alice", key: alice }, { name: "bob", key: bob }], { stateDir })
      const modelId = yield* createModel(server, yield* createSession(server, asKey(alice)), 0, 7, asKey(alice))
      const saved = yield* save(server, modelId, 1, "step-1", "weights", alice)
      const missing = saved.replace("step-1", "nothing")
      const route = checkpointRoute(saved)
      const calls = (path: string, run: string) => [
        rest(server, `/training_runs/${run}`, { key: bob }),
        rest(server, `/training_runs/${run}/checkpoints`, { key: bob }),
        rest(server, `${path}/archive`, { key: bob }),
        rest(server, `${path}/ttl`, { method: "PUT", body: { ttl_seconds: 60 }, key: bob }),
        rest(server, path, { method: "DELETE", key: bob })
      ]
      const unknownRun = "no-such-session:train:0"
      const asBob = yield* Effect.all(calls(route, modelId))
      const asUnknown = yield* Effect.all(calls(checkpointRoute(missing.replace(modelId, unknownRun)), unknownRun))
      asBob.forEach((answer, index) => {
        const unknown = asUnknown[index]!
        assert.strictEqual(answer.status, 404, answer.text)
        assert.strictEqual(answer.text.replaceAll(modelId, "<id>"), unknown.text.replaceAll(unknownRun, "<id>").replace("nothing", "step-1"))
      })
      const listing = yield* rest(server, "/training_runs", { key: bob })
      assert.deepStrictEqual(listing.json, { training_runs: [], cursor: { offset: 0, limit: 20, total_count: 0 } })
      assert.deepStrictEqual((yield* rest(server, "/checkpoints", { key: bob })).json.checkpoints, [])
      // Alice's checkpoint is intact, with no expiry, and still hers.
      assert.isTrue(yield* exists(fileOf(stateDir, saved, "alice")))
      const hers = yield* rest(server, `/training_runs/${modelId}/checkpoints`, { key: alice })
      assert.deepStrictEqual(hers.json.checkpoints.map((checkpoint: any) => [checkpoint.tinker_path, checkpoint.expires_at]), [[saved, null]])
    })))

  it.live("accepts learning_rate 0: the step runs and the weights stay as they were", () =>
    withBackend(Effect.gen(function*() {
      const server = yield* testServer()
      const modelId = yield* createModel(server, yield* createSession(server))
      const forward = (seqId: number) =>
        Effect.flatMap(postForwardBackward(server, { model_id: modelId, seq_id: seqId, forward_only: true }), (submitted) =>
          Effect.map(awaitFuture(server, submitted.json.request_id), (done) => done.json))
      const before = yield* forward(1)
      const gradients = yield* postForwardBackward(server, { model_id: modelId, seq_id: 2 })
      assert.strictEqual((yield* awaitFuture(server, gradients.json.request_id)).status, 200)
      const stepped = yield* result(server, "/optim_step", { model_id: modelId, seq_id: 3, adam_params: adam(0) })
      assert.strictEqual(stepped.json.metrics?.["learning_rate:mean"], 0, stepped.text)
      assert.deepStrictEqual(yield* forward(4), before)
      // The same step with a learning rate does change them: the check above can fail.
      const again = yield* postForwardBackward(server, { model_id: modelId, seq_id: 5 })
      assert.strictEqual((yield* awaitFuture(server, again.json.request_id)).status, 200)
      yield* result(server, "/optim_step", { model_id: modelId, seq_id: 6, adam_params: adam(0.05) })
      assert.notDeepEqual(yield* forward(7), before)
    })))
})
