import * as fs from "node:fs/promises"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { checkpointFile, parseCheckpointPath } from "../../src/server/state-paths.js"
import { tempDirectory } from "../support/temp-directory.js"
import {
  adam,
  awaitFuture,
  createSession,
  postForwardBackward,
  postJson,
  sessionAndModel,
  testServer,
  tinyArchitecture,
  withBackend
} from "./fixtures.js"

describe("sous serve: checkpoints", () => {
  it("reads only tinker:// checkpoint paths whose parts cannot leave the state directory", () => {
    assert.deepStrictEqual(parseCheckpointPath("tinker://s:train:0/weights/step-1"), { modelId: "s:train:0", kind: "weights", name: "step-1" })
    assert.deepStrictEqual(parseCheckpointPath("tinker://m/sampler_weights/a.b_c"), { modelId: "m", kind: "sampler_weights", name: "a.b_c" })
    for (const bad of ["s3://bucket/key", "tinker://m/weights/a/b", "tinker://m/optimizer/x", "tinker://../weights/x", "tinker://m/weights/..", "tinker://m/weights/.hidden"]) {
      assert.isString(parseCheckpointPath(bad), bad)
    }
    assert.strictEqual(
      checkpointFile("/state", "alice", { modelId: "s:train:0", kind: "weights", name: "final" }),
      path.join("/state", "tenants", "alice", "s%3Atrain%3A0", "weights", "final.state")
    )
  })

  it.live("saves weights as files under stateDir and loads them back, in seq_id order with the requests around them", () =>
    withBackend(Effect.gen(function*() {
      const stateDir = yield* tempDirectory("serve-state")
      const server = yield* testServer({ stateDir })
      const { modelId } = yield* sessionAndModel(server)
      const forward = (seq: number) => postForwardBackward(server, { model_id: modelId, seq_id: seq, forward_only: true })
      // Trained once, saved, trained again, then loaded back: all submitted before any is awaited.
      const submitted = [
        yield* postForwardBackward(server, { model_id: modelId, seq_id: 1 }),
        yield* postJson(server, "/optim_step", { model_id: modelId, seq_id: 2, adam_params: adam() }),
        yield* forward(3),
        yield* postJson(server, "/save_weights", { model_id: modelId, seq_id: 4, path: "step-1" }),
        yield* postForwardBackward(server, { model_id: modelId, seq_id: 5 }),
        yield* postJson(server, "/optim_step", { model_id: modelId, seq_id: 6, adam_params: adam() }),
        yield* forward(7),
        yield* postJson(server, "/load_weights", { model_id: modelId, seq_id: 8, path: `tinker://${modelId}/weights/step-1`, optimizer: true }),
        yield* forward(9)
      ]
      const results = yield* Effect.forEach(submitted, (answer) => Effect.map(awaitFuture(server, answer.json.request_id), (done) => done.json))
      const checkpoint = `tinker://${modelId}/weights/step-1`
      assert.deepStrictEqual(results[3], { path: checkpoint, type: "save_weights" })
      assert.deepStrictEqual(results[7], { path: checkpoint, model_id: modelId, type: "load_weights" })
      assert.notDeepEqual(results[6], results[2])
      assert.deepStrictEqual(results[8], results[2])
      const file = path.join(stateDir, "tenants", "default", encodeURIComponent(modelId), "weights", "step-1.state")
      assert.isAbove((yield* Effect.promise(() => fs.stat(file))).size, 0)

      // A name is not replaced unless asked.
      const again = yield* postJson(server, "/save_weights", { model_id: modelId, seq_id: 10, path: "step-1" })
      assert.deepStrictEqual((yield* awaitFuture(server, again.json.request_id)).json, {
        error: `a checkpoint ${checkpoint} already exists; save under another name or pass overwrite: true`,
        category: "user"
      })
      const replaced = yield* postJson(server, "/save_weights", { model_id: modelId, seq_id: 11, path: "step-1", overwrite: true })
      assert.deepStrictEqual((yield* awaitFuture(server, replaced.json.request_id)).json, { path: checkpoint, type: "save_weights" })
    })))

  it.live("refuses names and paths that escape the state directory or are not this server's, and reports missing ones", () =>
    withBackend(Effect.gen(function*() {
      const server = yield* testServer()
      const { modelId } = yield* sessionAndModel(server)
      const traversal = yield* postJson(server, "/save_weights", { model_id: modelId, seq_id: 1, path: "../../etc/passwd" })
      assert.strictEqual(traversal.status, 400)
      assert.match(traversal.json.error, /^path: checkpoint name "\.\.\/\.\.\/etc\/passwd" must be/)
      const foreignPaths = ["s3://bucket/weights", "/etc/passwd", `tinker://${modelId}/weights/../x`, `tinker://${modelId}/../../weights/x`]
      for (const [index, foreign] of foreignPaths.entries()) {
        const load = yield* postJson(server, "/load_weights", { model_id: modelId, seq_id: 2 + index, path: foreign, optimizer: false })
        assert.strictEqual(load.status, 400, foreign)
        assert.match(load.json.error, /^path: path .* (is not a checkpoint of this server|holds an invalid|checkpoint name)/, foreign)
      }
      const missing = yield* postJson(server, "/load_weights", { model_id: modelId, seq_id: 6, path: `tinker://${modelId}/weights/none`, optimizer: false })
      assert.deepStrictEqual((yield* awaitFuture(server, missing.json.request_id)).json, {
        error: `no checkpoint at tinker://${modelId}/weights/none`,
        category: "user"
      })
    })))

  it.live("describes a saved checkpoint's model with weights_info, so the SDK can resume it in a new model", () =>
    withBackend(Effect.gen(function*() {
      const server = yield* testServer()
      const sessionId = yield* createSession(server)
      // What the SDK's create_lora_training_client sends: LoRA settings, our spec in user_metadata.
      const createLora = (modelSeqId: number, loraConfig: unknown) =>
        Effect.gen(function*() {
          const submitted = yield* postJson(server, "/create_model", {
            session_id: sessionId,
            model_seq_id: modelSeqId,
            base_model: "tiny",
            user_metadata: { sous: { architecture: tinyArchitecture, seed: 3 } },
            lora_config: loraConfig,
            type: "create_model"
          })
          return (yield* awaitFuture(server, submitted.json.request_id)).json.model_id as string
        })
      const saved = yield* createLora(0, { rank: 4, train_unembed: false, train_mlp: true, train_attn: true })
      yield* postForwardBackward(server, { model_id: saved, seq_id: 1 })
      yield* postJson(server, "/optim_step", { model_id: saved, seq_id: 2, adam_params: adam() })
      const save = yield* postJson(server, "/save_weights", { model_id: saved, seq_id: 3, path: "resume" })
      const checkpoint = (yield* awaitFuture(server, save.json.request_id)).json.path as string
      const trained = yield* postForwardBackward(server, { model_id: saved, seq_id: 4, forward_only: true })

      const info = yield* postJson(server, "/weights_info", { tinker_path: checkpoint })
      assert.deepStrictEqual(info.json, {
        base_model: "tiny",
        is_lora: true,
        lora_rank: 4,
        train_unembed: false,
        train_mlp: true,
        train_attn: true
      })

      // The SDK then creates a model with those settings and loads the checkpoint into it.
      const resumed = yield* createLora(1, { rank: info.json.lora_rank, train_unembed: false, train_mlp: true, train_attn: true })
      const load = yield* postJson(server, "/load_weights", { model_id: resumed, seq_id: 1, path: checkpoint, optimizer: true })
      assert.deepStrictEqual((yield* awaitFuture(server, load.json.request_id)).json, { path: checkpoint, model_id: resumed, type: "load_weights" })
      const again = yield* postForwardBackward(server, { model_id: resumed, seq_id: 2, forward_only: true })
      assert.deepStrictEqual(
        (yield* awaitFuture(server, again.json.request_id)).json,
        (yield* awaitFuture(server, trained.json.request_id)).json
      )

      const missing = yield* postJson(server, "/weights_info", { tinker_path: `tinker://${saved}/weights/none` })
      assert.deepStrictEqual([missing.status, missing.json], [404, { error: `no checkpoint at tinker://${saved}/weights/none` }])
      const unknown = yield* postJson(server, "/weights_info", { tinker_path: "tinker://gone:train:0/weights/resume" })
      assert.strictEqual(unknown.status, 404)
      assert.match(unknown.json.error, /the model "gone:train:0" that saved tinker:\/\/gone:train:0\/weights\/resume is not held by this server/)
      const foreign = yield* postJson(server, "/weights_info", { tinker_path: "s3://bucket/weights" })
      assert.strictEqual(foreign.status, 400)
      assert.match(foreign.json.error, /^tinker_path: path "s3:\/\/bucket\/weights" is not a checkpoint of this server/)
    })))
})
