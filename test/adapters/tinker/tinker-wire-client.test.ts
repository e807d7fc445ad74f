import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeTinkerBackend } from "../../../src/adapters/tinker/index.js"
import { decodeForwardBackwardRequest } from "../../../src/protocol/proto-messages.js"
import { zstdDecompress } from "../../../src/protocol/zstd.js"
import { float32, fromInts, type ForwardBackwardOutput } from "../../../src/ports/index.js"
import { architecture, awaitResult, byteDatums } from "./served-backend.js"
import { type ScriptedReply, type SeenRequest, startScriptedServer } from "./scripted-server.js"

const adam = { learning_rate: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-12, weight_decay: 0, grad_clip_norm: 0 }

/**
 * A stand-in service that answers every endpoint at once and every future on the first poll,
 * with JSON results (a service without protobuf results), recording what it was sent.
 */
const standIn = () => {
  const results = new Map<string, unknown>()
  let futures = 0
  const future = (result: unknown): ScriptedReply => {
    const requestId = `req-${futures++}`
    results.set(requestId, result)
    return { status: 200, json: { request_id: requestId } }
  }
  const lossOutput = (rows: number, loss: number): ForwardBackwardOutput => ({
    loss_fn_output_type: "cross_entropy",
    loss_fn_outputs: Array.from({ length: rows }, () => ({ logprobs: float32([-1, -2]) })),
    metrics: { "loss:sum": loss, "weights:sum": rows }
  })
  const reply = (request: SeenRequest): ScriptedReply => {
    const body = request.json as Record<string, unknown> | undefined
    switch (request.endpoint) {
      case "/client/config":
        return { status: 200, json: { proto_compress_fwdbwd: true, fwdbwd_max_chunk_len: 2, fwdbwd_max_chunk_bytes_count: 1_000_000 } }
      case "/create_session":
        return { status: 200, json: { type: "create_session", session_id: "s1" } }
      case "/get_server_capabilities":
        return { status: 200, json: { supported_models: [{ model_name: "Qwen/Qwen3-8B" }] } }
      case "/create_model":
        return future({ model_id: `s1:train:${body?.["model_seq_id"]}`, type: "create_model" })
      case "/get_info":
        return { status: 200, json: { model_id: body?.["model_id"], model_data: { model_name: "Qwen/Qwen3-8B" } } }
      case "/forward_backward": {
        const message = decodeForwardBackwardRequest(zstdDecompress(request.body, 1e8))
        return future(lossOutput(message.data.length, message.seq_id * 10))
      }
      case "/optim_step":
        return future({ metrics: { "grad_norm:mean": 1 } })
      case "/save_weights":
        return future({ path: `tinker://s1:train:0/weights/${body?.["path"]}`, type: "save_weights" })
      case "/create_sampling_session":
        return { status: 200, json: { sampling_session_id: "s1:sample:0" } }
      case "/asample":
        return future({ sequences: [{ stop_reason: "length", tokens: [5], logprobs: [-0.5] }], prompt_logprobs: [null, -1.5, -2.5] })
      case "/retrieve_future":
        return { status: 200, json: results.get(String(body?.["request_id"])) }
      default:
        return { status: 404, json: { error: `no route ${request.endpoint}` } }
    }
  }
  return startScriptedServer(reply)
}

const sentTo = (requests: ReadonlyArray<SeenRequest>, endpoint: string) =>
  requests.filter((request) => request.endpoint === endpoint)

describe("TinkerTrainingClient on the wire", () => {
  it.live("sends the protocol's requests: sequence numbers, chunks, protobuf with zstd, LoRA settings", () =>
    Effect.gen(function*() {
      const server = yield* standIn()
      const backend = yield* makeTinkerBackend({ baseUrl: server.url, apiKey: "tml-wire" })
      const capabilities = yield* backend.capabilities
      // A service that says nothing of itself gets the protocol's defaults.
      assert.deepStrictEqual(capabilities, {
        backend: "tinker",
        device: "remote",
        losses: ["cross_entropy", "importance_sampling", "ppo", "cispo", "dro"],
        maxLoraRank: 32,
        customLoss: true,
        sampling: true,
        durableCheckpoints: true
      })
      const client = yield* backend.createTrainingClient({
        baseModel: "Qwen/Qwen3-8B",
        architecture,
        seed: 42,
        lora: { rank: 8, alpha: 16, trainUnembed: false }
      })
      const info = yield* client.info
      assert.deepStrictEqual(info, { modelId: "s1:train:0", baseModel: "Qwen/Qwen3-8B", parameterCount: 0, device: "remote" })
      assert.deepStrictEqual(sentTo(server.requests, "/create_model")[0]!.json, {
        session_id: "s1",
        model_seq_id: 0,
        base_model: "Qwen/Qwen3-8B",
        user_metadata: { sous: { architecture, seed: 42, alpha: 16 } },
        lora_config: { rank: 8, seed: 42, train_unembed: false, train_mlp: true, train_attn: true },
        type: "create_model"
      })

      // 5 datums at 2 per chunk: seq_ids 1-3, then the optimizer step 4 and the forward 5.
      const loss = yield* client.forwardBackward(byteDatums(["aa", "bb", "cc", "dd", "ee"]), "cross_entropy", { x: 1 })
      const step = yield* client.optimStep(adam)
      const forward = yield* client.forward(byteDatums(["ff"]), "cross_entropy")
      const merged = yield* loss.result
      assert.deepStrictEqual(merged.metrics, { "loss:sum": 10 + 20 + 30, "weights:sum": 5 })
      assert.strictEqual(merged.loss_fn_outputs.length, 5)
      const stepMetrics = (yield* step.result).metrics
      assert.strictEqual(stepMetrics["grad_norm:mean"], 1)
      assert.strictEqual(stepMetrics["remote_retries"], 0)
      // The service sent no X-Sous-* headers, so no queue or compute keys.
      assert.notProperty(stepMetrics, "remote_queue_ms")
      assert.strictEqual((yield* forward.result).metrics["loss:sum"], 50)

      const chunks = sentTo(server.requests, "/forward_backward")
      for (const chunk of chunks) {
        assert.strictEqual(chunk.headers["content-type"], "application/x-protobuf")
        assert.strictEqual(chunk.headers["content-encoding"], "zstd")
      }
      const messages = chunks.map((chunk) => decodeForwardBackwardRequest(zstdDecompress(chunk.body, 1e8)))
      assert.deepStrictEqual(
        messages.map((m) => [m.seq_id, m.data.length, m.forward_only, m.loss_fn, m.model_id]).sort(),
        [[1, 2, false, "cross_entropy", "s1:train:0"], [2, 2, false, "cross_entropy", "s1:train:0"], [3, 1, false, "cross_entropy", "s1:train:0"], [5, 1, true, "cross_entropy", "s1:train:0"]]
      )
      assert.deepStrictEqual(messages[0]!.loss_fn_config, { x: 1 })
      assert.deepStrictEqual(sentTo(server.requests, "/optim_step")[0]!.json, {
        adam_params: adam,
        type: "optim_step",
        model_id: "s1:train:0",
        seq_id: 4
      })
      // Results of forward/backward are asked for as protobuf (JSON is taken too).
      const polls = sentTo(server.requests, "/retrieve_future")
      assert.isTrue(polls.some((poll) => String(poll.headers["accept"]).includes("application/x-protobuf")))
      for (const request of server.requests) {
        assert.strictEqual(request.headers["x-api-key"], "tml-wire")
        if (request.method !== "GET") assert.match(String(request.headers["x-idempotency-key"]), /^sous-/)
      }

      const saved = yield* awaitResult(client.saveState("ckpt"))
      assert.deepStrictEqual(saved, { _tag: "Remote", path: "tinker://s1:train:0/weights/ckpt" })
      assert.strictEqual((sentTo(server.requests, "/save_weights")[0]!.json as { seq_id: number }).seq_id, 6)

      const sampler = yield* backend.createSamplingClient({ _tag: "Remote", path: "tinker://s1:train:0/sampler_weights/x" })
      assert.deepStrictEqual(sentTo(server.requests, "/create_sampling_session")[0]!.json, {
        session_id: "s1",
        sampling_session_seq_id: 0,
        model_path: "tinker://s1:train:0/sampler_weights/x",
        type: "create_sampling_session"
      })
      assert.deepStrictEqual(yield* awaitResult(sampler.computeLogprobs(fromInts([1, 2, 3]))), [null, -1.5, -2.5])
      const asample = sentTo(server.requests, "/asample")[0]!.json as Record<string, unknown>
      assert.strictEqual(asample["num_samples"], 1)
      assert.strictEqual(asample["prompt_logprobs"], true)
      assert.deepStrictEqual(asample["sampling_params"], { max_tokens: 1, temperature: 1, top_k: -1, top_p: 1 })
      assert.strictEqual(asample["type"], "sample")
    }))
})
