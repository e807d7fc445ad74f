import { randomUUID } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { mergeForwardBackwardOutputs } from "../../src/protocol/metric-merge.js"
import { decodeForwardBackwardOutput, decodeSampleResponse, encodeForwardBackwardRequest } from "../../src/protocol/proto-messages.js"
import { zstdCompress } from "../../src/protocol/zstd.js"
import { TrainingBackend } from "../../src/ports/index.js"
import { type Answer, batch, request, testServer, tinyArchitecture, withBackend } from "./fixtures.js"

type Server = Parameters<typeof request>[0]

// The Python SDK sends only keys that start with "tml-".
const sdkKey = "tml-sdk-flow-test-key"

/** The headers the SDK's HTTP layer puts on every request. */
const sdkHeaders = (extra: Record<string, string> = {}): Record<string, string> => ({
  "x-api-key": sdkKey,
  "x-stainless-lang": "python",
  "x-stainless-retry-count": "0",
  "x-stainless-async": "async:asyncio",
  "x-idempotency-key": `stainless-python-retry-${randomUUID()}`,
  ...extra
})

const post = (server: Server, path: string, body: unknown, extra: Record<string, string> = {}) =>
  request(server, path, { headers: sdkHeaders({ "content-type": "application/json", ...extra }), body: JSON.stringify(body) })

// Sizes of the results announced with complete_metadata.
const announced: Array<number> = []

/** The SDK's poll loop: metadata allowed first, protobuf accepted where the result has a message. */
const poll = (server: Server, requestId: string, protobuf: boolean): Effect.Effect<Answer> =>
  Effect.gen(function*() {
    let allowMetadataOnly = true
    let announcedSize: number | undefined
    for (let iteration = 0;; iteration++) {
      const answer = yield* post(server, "/retrieve_future", { request_id: requestId, allow_metadata_only: allowMetadataOnly }, {
        "x-tinker-request-iteration": String(iteration),
        ...(protobuf ? { accept: "application/x-protobuf" } : {})
      })
      if (answer.json?.type === "try_again") continue
      if (answer.json?.status === "complete_metadata") {
        announcedSize = answer.json.response_payload_size
        announced.push(answer.json.response_payload_size)
        allowMetadataOnly = false
        continue
      }
      // The size announced is the size the client then downloads.
      if (announcedSize !== undefined) assert.strictEqual(answer.bytes.byteLength, announcedSize)
      return answer
    }
  })

describe("sous serve: a client that behaves as the Tinker Python SDK 0.25", () => {
  it.live("bootstraps, trains LoRA on a named base model with chunked zstd batches, saves, samples and loads", () =>
    withBackend(Effect.gen(function*() {
      const server = yield* testServer({ apiKey: sdkKey, baseModels: { "byte-tiny": tinyArchitecture }, metadataThresholdBytes: 150 })
      const config = yield* post(server, "/client/config", { sdk_version: "0.25.0" })
      assert.strictEqual(config.json.proto_compress_fwdbwd, true)
      assert.strictEqual(config.json.parallel_fwdbwd_chunks, true)
      yield* post(server, "/client/dynamic_config", { sdk_version: "0.25.0" })
      const capabilities = yield* request(server, "/get_server_capabilities", { method: "GET", headers: sdkHeaders() })
      assert.deepStrictEqual(capabilities.json.supported_models, [{ model_name: "byte-tiny", max_context_length: 8 }])
      const sessionId = (yield* post(server, "/create_session", { tags: [], user_metadata: {}, sdk_version: "0.25.0", type: "create_session" })).json
        .session_id as string
      assert.strictEqual((yield* post(server, "/session_heartbeat", { session_id: sessionId, type: "session_heartbeat" })).status, 200)

      // create_lora_training_client(base_model="byte-tiny", rank=4, seed=3)
      const created = yield* post(server, "/create_model", {
        session_id: sessionId,
        model_seq_id: 0,
        base_model: "byte-tiny",
        lora_config: { rank: 4, seed: 3, train_unembed: true, train_mlp: true, train_attn: true },
        type: "create_model"
      })
      const modelId = (yield* poll(server, created.json.request_id, false)).json.model_id as string
      assert.strictEqual(modelId, `${sessionId}:train:0`)

      // forward_backward over two chunks: the later chunk is sent first, the first one last.
      const chunk = (seqId: number, data: typeof batch) =>
        request(server, "/forward_backward", {
          headers: sdkHeaders({ "content-type": "application/x-protobuf", "content-encoding": "zstd" }),
          body: zstdCompress(encodeForwardBackwardRequest({ model_id: modelId, seq_id: seqId, data, loss_fn: "cross_entropy", loss_fn_config: {}, forward_only: false }))
        })
      const data = [...batch, ...batch]
      const second = yield* chunk(2, data.slice(1))
      const first = yield* chunk(1, data.slice(0, 1))
      const step = yield* post(server, "/optim_step", {
        adam_params: { learning_rate: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-12, weight_decay: 0, grad_clip_norm: 0 },
        model_id: modelId,
        seq_id: 3,
        type: "optim_step"
      })
      const outputs = yield* Effect.forEach([first, second], (answer) =>
        Effect.map(poll(server, answer.json.request_id, true), (done) => {
          assert.strictEqual(done.headers.get("content-type"), "application/x-protobuf")
          return decodeForwardBackwardOutput(done.bytes)
        }))
      const merged = mergeForwardBackwardOutputs(outputs)
      // Results past the 150-byte threshold were announced first, then fetched in full.
      assert.isAtLeast(announced.length, 1)
      for (const size of announced) assert.isAbove(size, 150)
      const stepped = yield* poll(server, step.json.request_id, false)
      assert.strictEqual(stepped.json.metrics["learning_rate:mean"], 0.01)

      // The same batch in one call of an in-process client with the same settings.
      const backend = yield* TrainingBackend
      const local = yield* backend.createTrainingClient({ baseModel: "byte-tiny", architecture: tinyArchitecture, seed: 3, lora: { rank: 4, trainAttn: true, trainMlp: true, trainUnembed: true } })
      const expected = yield* (yield* local.forwardBackward(data, "cross_entropy")).result
      assert.strictEqual(merged.loss_fn_outputs.length, 4)
      merged.loss_fn_outputs.forEach((output, i) =>
        output.logprobs!.data.forEach((value, j) => assert.approximately(value, expected.loss_fn_outputs[i]!.logprobs!.data[j]!, 1e-5)))
      assert.approximately(merged.metrics["loss:sum"]!, expected.metrics["loss:sum"]!, 1e-4)

      // save_state("ckpt-1"), then save_weights_and_get_sampling_client().
      const saved = yield* post(server, "/save_weights", { model_id: modelId, path: "ckpt-1", seq_id: 4, overwrite: false, type: "save_weights" })
      const checkpoint = (yield* poll(server, saved.json.request_id, false)).json.path as string
      assert.strictEqual(checkpoint, `tinker://${modelId}/weights/ckpt-1`)
      const forSampler = yield* post(server, "/save_weights_for_sampler", { model_id: modelId, seq_id: 5, sampling_session_seq_id: 0, type: "save_weights_for_sampler" })
      const samplingSessionId = (yield* poll(server, forSampler.json.request_id, false)).json.sampling_session_id as string
      assert.strictEqual(samplingSessionId, `${sessionId}:sample:0`)

      const asample = (body: Record<string, unknown>) =>
        Effect.flatMap(
          post(server, "/asample", {
            sampling_session_id: samplingSessionId,
            seq_id: 0,
            num_samples: 2,
            prompt: { chunks: [{ tokens: [1, 2, 3], type: "encoded_text" }] },
            sampling_params: { max_tokens: 3, seed: 5, temperature: 1, top_k: -1, top_p: 1 },
            prompt_logprobs: false,
            topk_prompt_logprobs: 0,
            type: "sample",
            ...body
          }, { "x-tinker-sampling-backpressure": "1" }),
          (submitted) => Effect.map(poll(server, submitted.json.request_id, true), (done) => decodeSampleResponse(done.bytes))
        )
      const samples = yield* asample({})
      assert.strictEqual(samples.sequences.length, 2)
      for (const sequence of samples.sequences) {
        assert.strictEqual(sequence.tokens.length, 3)
        assert.strictEqual(sequence.stop_reason, "length")
      }
      // compute_logprobs(prompt) is a one-token sample with the prompt's logprobs.
      const logprobs = yield* asample({ num_samples: 1, prompt_logprobs: true, sampling_params: { max_tokens: 1, temperature: 1, top_k: -1, top_p: 1 } })
      assert.strictEqual(logprobs.prompt_logprobs?.length, 3)
      assert.strictEqual(logprobs.prompt_logprobs?.[0], null)

      // load_state(checkpoint) and get_info().
      const loaded = yield* post(server, "/load_weights", { model_id: modelId, path: checkpoint, seq_id: 6, optimizer: false, type: "load_weights" })
      assert.deepStrictEqual((yield* poll(server, loaded.json.request_id, false)).json, { path: checkpoint, model_id: modelId, type: "load_weights" })
      const info = yield* post(server, "/get_info", { model_id: modelId, type: "get_info" })
      assert.strictEqual(info.json.lora_rank, 4)
      assert.strictEqual(info.json.model_data.model_name, "byte-tiny")
      assert.deepStrictEqual((yield* post(server, "/telemetry", { events: [{ event: "x" }] })).json, { status: "accepted" })
      assert.strictEqual(server.stats().optimizerSteps, 1)
    })))
})
