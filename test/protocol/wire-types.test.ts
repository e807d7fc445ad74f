import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import {
  ClientConfigResponse,
  CreateModelRequest,
  CreateSessionRequest,
  CreateSessionResponse,
  FutureRetrieveRequest,
  GetInfoResponse,
  GetServerCapabilitiesResponse,
  LoadWeightsRequest,
  OptimStepRequest,
  RequestFailedResponse,
  SampleRequest,
  SaveWeightsForSamplerRequest,
  TryAgainResponse,
  UntypedAPIFuture
} from "../../src/protocol/wire-types.js"
import { formatSchemaProblems, schemaProblems, type TransformerArchitecture } from "../../src/ports/index.js"

/** The problems of a body the schema refuses, as the server reports them. */
const problems = <A, I>(schema: Schema.Codec<A, I>, input: unknown): string => {
  try {
    Schema.decodeUnknownSync(schema)(input, { errors: "all" })
  } catch (error) {
    assert.instanceOf(error, Schema.SchemaError)
    return formatSchemaProblems(schemaProblems(error as Schema.SchemaError, input))
  }
  return assert.fail(`expected ${JSON.stringify(input)} to be refused`)
}

// What the Python SDK sends (pydantic `model_dump(exclude_none=True, mode="json")`).
const sdkSample = {
  sampling_session_id: "s1:sample:0",
  seq_id: 1,
  num_samples: 2,
  prompt: { chunks: [{ tokens: [1, 2, 3], type: "encoded_text" }] },
  sampling_params: { max_tokens: 8, stop: ["\n"], temperature: 0.7, top_k: -1, top_p: 1.0 },
  prompt_logprobs: false,
  topk_prompt_logprobs: 0,
  type: "sample"
}

describe("request bodies", () => {
  it("read a sample request as the SDK sends it, filling the sampling defaults", () => {
    assert.deepStrictEqual(Schema.decodeUnknownSync(SampleRequest)(sdkSample), {
      sampling_session_id: "s1:sample:0",
      seq_id: 1,
      num_samples: 2,
      prompt: { chunks: [{ type: "encoded_text", tokens: [1, 2, 3] }] },
      sampling_params: { max_tokens: 8, stop: ["\n"], temperature: 0.7, top_k: -1, top_p: 1 },
      prompt_logprobs: false,
      topk_prompt_logprobs: 0,
      type: "sample"
    })
    const minimal = Schema.decodeUnknownSync(SampleRequest)({
      sampling_session_id: "s",
      seq_id: 2,
      prompt: { chunks: [] },
      sampling_params: { max_tokens: null, seed: null, stop: null, temperature: null, top_k: null, top_p: null },
      prompt_logprobs: null
    })
    assert.deepStrictEqual(minimal, {
      sampling_session_id: "s",
      seq_id: 2,
      num_samples: 1,
      prompt: { chunks: [] },
      sampling_params: { temperature: 1, top_k: -1, top_p: 1 },
      topk_prompt_logprobs: 0
    })
    // A 64-bit Python seed arrives rounded past 2^53 and folds into the safe integers.
    const seeded = Schema.decodeUnknownSync(SampleRequest)({ ...sdkSample, sampling_params: { seed: 2 ** 63 + 2 ** 12, stop: "x" } })
    assert.deepStrictEqual(seeded.sampling_params, { seed: (2 ** 63 + 2 ** 12) % 2 ** 53, stop: "x", temperature: 1, top_k: -1, top_p: 1 })
    assert.deepStrictEqual(
      Schema.decodeUnknownSync(SampleRequest)({ ...sdkSample, sampling_params: { stop: [13, 10], seed: 7 } }).sampling_params,
      { stop: [13, 10], seed: 7, temperature: 1, top_k: -1, top_p: 1 }
    )
  })

  it("read the SDK's other bodies, null optional fields as absent and defaults filled", () => {
    assert.deepStrictEqual(
      Schema.decodeUnknownSync(CreateSessionRequest)({ tags: ["a"], user_metadata: null, sdk_version: "0.25.0", type: "create_session" }),
      { tags: ["a"], sdk_version: "0.25.0", type: "create_session" }
    )
    const architecture: TransformerArchitecture = { kind: "transformer", vocabSize: 16, contextLength: 8, width: 16, layers: 2, heads: 2 }
    assert.deepStrictEqual(
      Schema.decodeUnknownSync(CreateModelRequest)({
        session_id: "s1",
        model_seq_id: 0,
        base_model: "tiny",
        user_metadata: { sous: { architecture, seed: 3, alpha: 16 }, owner: "me" },
        lora_config: { rank: 4 },
        type: "create_model"
      }),
      {
        session_id: "s1",
        model_seq_id: 0,
        base_model: "tiny",
        user_metadata: { sous: { architecture, seed: 3, alpha: 16 } },
        lora_config: { rank: 4, train_unembed: true, train_mlp: true, train_attn: true },
        type: "create_model"
      }
    )
    assert.deepStrictEqual(
      Schema.decodeUnknownSync(OptimStepRequest)({ adam_params: { learning_rate: 0.001 }, model_id: "s1:train:0", seq_id: 4, type: "optim_step" }),
      {
        adam_params: { learning_rate: 0.001, beta1: 0.9, beta2: 0.95, eps: 1e-12, weight_decay: 0, grad_clip_norm: 0 },
        model_id: "s1:train:0",
        seq_id: 4,
        type: "optim_step"
      }
    )
    assert.deepStrictEqual(
      Schema.decodeUnknownSync(SaveWeightsForSamplerRequest)({ model_id: "m", seq_id: 5, sampling_session_seq_id: 1, ttl_seconds: null }),
      { model_id: "m", seq_id: 5, sampling_session_seq_id: 1 }
    )
    assert.deepStrictEqual(Schema.decodeUnknownSync(FutureRetrieveRequest)({ request_id: "r1" }), { request_id: "r1", allow_metadata_only: false })
  })

  it("refuse malformed bodies naming each wrong field", () => {
    assert.strictEqual(
      problems(OptimStepRequest, { adam_params: { learning_rate: -1 }, model_id: 7, type: "optim_step" }),
      "adam_params.learning_rate: expected a value greater than or equal to 0, got -1; model_id: expected string, got 7; seq_id: missing key"
    )
    assert.strictEqual(
      problems(SampleRequest, { ...sdkSample, num_samples: 0, sampling_params: { temperature: "hot", top_k: 1.5 } }),
      "num_samples: expected a value greater than or equal to 1, got 0; sampling_params.temperature: expected number | null, got \"hot\"; sampling_params.top_k: expected an integer, got 1.5"
    )
    assert.include(
      problems(SampleRequest, { ...sdkSample, prompt: { chunks: [{ type: "image", data: "", format: "png" }] } }),
      "prompt.chunks[0]"
    )
    assert.strictEqual(
      problems(CreateModelRequest, { session_id: "s", model_seq_id: -1, base_model: "b", lora_config: { rank: 1.5, train_mlp: "yes" } }),
      "model_seq_id: expected a value greater than or equal to 0, got -1; lora_config.rank: expected an integer, got 1.5; lora_config.train_mlp: expected boolean, got \"yes\""
    )
    assert.strictEqual(
      problems(LoadWeightsRequest, { model_id: "m", seq_id: 1, path: "tinker://m/weights/a", optimizer: "true", type: "load_weights" }),
      "optimizer: expected boolean, got \"true\""
    )
    assert.strictEqual(
      problems(OptimStepRequest, { adam_params: {}, model_id: "m", seq_id: 1, type: "sample" }),
      "type: expected \"optim_step\", got \"sample\""
    )
  })
})

describe("replies", () => {
  it("read what a service sends, extra keys and null optional fields included", () => {
    assert.deepStrictEqual(
      Schema.decodeUnknownSync(ClientConfigResponse)({
        pjwt_auth_enabled: false,
        proto_compress_fwdbwd: true,
        fwdbwd_max_chunk_len: 512,
        fwdbwd_max_chunk_bytes_count: 1000,
        use_pyqwest_transport: true
      }),
      { pjwt_auth_enabled: false, proto_compress_fwdbwd: true, fwdbwd_max_chunk_len: 512, fwdbwd_max_chunk_bytes_count: 1000 }
    )
    assert.deepStrictEqual(Schema.decodeUnknownSync(ClientConfigResponse)({}), {})
    assert.deepStrictEqual(
      Schema.decodeUnknownSync(CreateSessionResponse)({ type: "create_session", session_id: "s1", info_message: null, warning_message: "slow" }),
      { type: "create_session", session_id: "s1", warning_message: "slow" }
    )
    assert.deepStrictEqual(Schema.decodeUnknownSync(UntypedAPIFuture)({ request_id: "r", model_id: null }), { request_id: "r" })
    assert.deepStrictEqual(
      Schema.decodeUnknownSync(TryAgainResponse)({ type: "try_again", request_id: "r", queue_state: "paused_capacity", queue_state_reason: null }),
      { type: "try_again", request_id: "r", queue_state: "paused_capacity" }
    )
    assert.deepStrictEqual(
      Schema.decodeUnknownSync(RequestFailedResponse)({ error: "bad loss", category: "user", request_id: "r" }),
      { error: "bad loss", category: "user" }
    )
    assert.deepStrictEqual(
      Schema.decodeUnknownSync(GetInfoResponse)({
        type: "get_info",
        model_data: { arch: null, model_name: "Qwen/Qwen3-8B", tokenizer_id: null },
        model_id: "s1:train:0",
        is_lora: true,
        lora_rank: 32,
        model_name: "Qwen/Qwen3-8B"
      }),
      {
        type: "get_info",
        model_data: { model_name: "Qwen/Qwen3-8B" },
        model_id: "s1:train:0",
        is_lora: true,
        lora_rank: 32,
        model_name: "Qwen/Qwen3-8B"
      }
    )
    assert.deepStrictEqual(
      Schema.decodeUnknownSync(GetServerCapabilitiesResponse)({ supported_models: [{ model_name: "a", max_context_length: null }, {}] }),
      { supported_models: [{ model_name: "a" }, {}] }
    )
  })
})
