/**
 * The JSON bodies of the Tinker HTTP API (paths under `/api/v1`), as effect Schemas: the
 * `sous serve` server decodes requests with them (a bad body is refused naming the field)
 * and the `tinker` client decodes replies. Field names and optionality follow the Tinker SDK.
 *
 * Requests check every field's type. Optional fields also take `null` (the SDK leaves out
 * `None`, other clients send it) and decode as absent. Extra keys are ignored, so a newer
 * SDK's additions do not break an older server. Replies are lenient: anything the service
 * may leave out is optional, and extra keys are ignored.
 */
import { Effect, Option, Schema, SchemaGetter } from "effect"
import {
  AdamParams,
  LossFnType,
  ModelArchitecture,
  ModelInput,
  SamplingParams
} from "../ports/index.js"

/** An optional key that also accepts `null`, decoded as an absent key. */
const optionalNullable = <S extends Schema.Top>(schema: S) =>
  Schema.optionalKey(Schema.NullOr(schema)).pipe(
    Schema.decodeTo(Schema.optionalKey(Schema.toType(schema)), {
      decode: SchemaGetter.transformOptional((value) => Option.filter(value, (present) => present !== null)),
      encode: SchemaGetter.passthroughSubtype()
    })
  )

/** The `type` tag a body may carry; the SDK sends it, but it says nothing the path does not. */
const typeTag = <const L extends string>(tag: L) => Schema.optionalKey(Schema.Literal(tag))

const defaultTrue = Schema.Boolean.pipe(Schema.withDecodingDefaultKey(Effect.succeed(true)))
const defaultFalse = Schema.Boolean.pipe(Schema.withDecodingDefaultKey(Effect.succeed(false)))
const PositiveInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))
const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

// ---------------------------------------------------------------------------------------------
// Session

/** `POST /client/config` body. */
export const ClientConfigRequest = Schema.Struct({
  sdk_version: Schema.String
})
export type ClientConfigRequest = typeof ClientConfigRequest.Type

/** `POST /client/config` reply: the service's feature flags (those sous reads). */
export const ClientConfigResponse = Schema.Struct({
  pjwt_auth_enabled: Schema.optionalKey(Schema.Boolean),
  parallel_fwdbwd_chunks: Schema.optionalKey(Schema.Boolean),
  /** zstd-compress forward/backward bodies (`Content-Encoding: zstd`). */
  proto_compress_fwdbwd: Schema.optionalKey(Schema.Boolean),
  /** Most datums per forward/backward request (SDK default 1024). */
  fwdbwd_max_chunk_len: Schema.optionalKey(PositiveInt),
  /** Most serialized (uncompressed) bytes per forward/backward request (SDK default 5,000,000). */
  fwdbwd_max_chunk_bytes_count: Schema.optionalKey(PositiveInt),
  sample_max_concurrent_requests: Schema.optionalKey(PositiveInt),
  create_model_via_load_weights: Schema.optionalKey(Schema.Boolean)
})
export type ClientConfigResponse = typeof ClientConfigResponse.Type

/** `POST /create_session` body. */
export const CreateSessionRequest = Schema.Struct({
  tags: Schema.Array(Schema.String),
  user_metadata: optionalNullable(Schema.Record(Schema.String, Schema.Unknown)),
  sdk_version: Schema.String,
  project_id: optionalNullable(Schema.String),
  type: typeTag("create_session")
})
export type CreateSessionRequest = typeof CreateSessionRequest.Type

/** `POST /create_session` reply. */
export const CreateSessionResponse = Schema.Struct({
  type: typeTag("create_session"),
  session_id: Schema.String,
  info_message: optionalNullable(Schema.String),
  warning_message: optionalNullable(Schema.String),
  error_message: optionalNullable(Schema.String)
})
export type CreateSessionResponse = typeof CreateSessionResponse.Type

/** `POST /session_heartbeat` body. */
export const SessionHeartbeatRequest = Schema.Struct({
  session_id: Schema.String,
  type: typeTag("session_heartbeat")
})
export type SessionHeartbeatRequest = typeof SessionHeartbeatRequest.Type

/** `POST /session_heartbeat` reply. */
export const SessionHeartbeatResponse = Schema.Struct({
  type: typeTag("session_heartbeat")
})
export type SessionHeartbeatResponse = typeof SessionHeartbeatResponse.Type

// ---------------------------------------------------------------------------------------------
// Futures

/** What every asynchronous endpoint answers: a request id to poll `/retrieve_future` with. */
export const UntypedAPIFuture = Schema.Struct({
  request_id: Schema.String,
  model_id: optionalNullable(Schema.String)
})
export type UntypedAPIFuture = typeof UntypedAPIFuture.Type

/** `POST /retrieve_future` body. */
export const FutureRetrieveRequest = Schema.Struct({
  request_id: Schema.String,
  allow_metadata_only: defaultFalse
})
export type FutureRetrieveRequest = typeof FutureRetrieveRequest.Type

/** Why a future is not done yet. */
export const QueueState = Schema.Literals(["active", "paused_capacity", "paused_rate_limit"])
export type QueueState = typeof QueueState.Type

/** `/retrieve_future` reply while the request waits or runs: poll again. */
export const TryAgainResponse = Schema.Struct({
  type: Schema.Literal("try_again"),
  request_id: Schema.String,
  // One of QueueState today; read as any string, since it is only logged and a state the
  // service adds later must not fail every poll.
  queue_state: Schema.Union([QueueState, Schema.String]),
  queue_state_reason: optionalNullable(Schema.String)
})
export type TryAgainResponse = typeof TryAgainResponse.Type

/** `/retrieve_future` reply to `allow_metadata_only`: the result is ready and this large. */
export const CompleteMetadataResponse = Schema.Struct({
  status: Schema.Literal("complete_metadata"),
  response_payload_size: NonNegativeInt
})
export type CompleteMetadataResponse = typeof CompleteMetadataResponse.Type

/** Who is to blame for a failed request (`user`: the request itself is wrong). */
export const RequestErrorCategory = Schema.Literals(["unknown", "server", "user"])
export type RequestErrorCategory = typeof RequestErrorCategory.Type

/** `/retrieve_future` reply for a request that failed. */
export const RequestFailedResponse = Schema.Struct({
  error: Schema.String,
  category: RequestErrorCategory
})
export type RequestFailedResponse = typeof RequestFailedResponse.Type

/** The body of an HTTP error reply (any 4xx or 5xx). */
export const ErrorReply = Schema.Struct({
  // Usually a string; an object or null is shown as its JSON.
  error: Schema.Unknown
})
export type ErrorReply = typeof ErrorReply.Type

// ---------------------------------------------------------------------------------------------
// Training models

/** LoRA settings of `/create_model` (the protocol's `LoraConfig`; `train_*` default to true). */
export const WireLoraConfig = Schema.Struct({
  rank: Schema.Int,
  seed: optionalNullable(Schema.Int),
  train_unembed: defaultTrue,
  train_mlp: defaultTrue,
  train_attn: defaultTrue
})
export type WireLoraConfig = typeof WireLoraConfig.Type

/**
 * sous extension, at `user_metadata.sous` of `/create_model`: what a backend that builds
 * models from scratch (the local one) needs, and the LoRA `alpha`.
 */
export const SousModelSpec = Schema.Struct({
  architecture: ModelArchitecture,
  seed: Schema.Int,
  alpha: Schema.optionalKey(Schema.Finite)
})
export type SousModelSpec = typeof SousModelSpec.Type

/** `user_metadata` of `/create_model`; keys other than `sous` are the caller's own. */
export const CreateModelUserMetadata = Schema.Struct({
  sous: Schema.optionalKey(SousModelSpec)
})
export type CreateModelUserMetadata = typeof CreateModelUserMetadata.Type

/** `POST /create_model` body; its future's result is a {@link CreateModelResponse}. */
export const CreateModelRequest = Schema.Struct({
  session_id: Schema.String,
  model_seq_id: NonNegativeInt,
  base_model: Schema.String,
  user_metadata: optionalNullable(CreateModelUserMetadata),
  lora_config: optionalNullable(WireLoraConfig),
  type: typeTag("create_model")
})
export type CreateModelRequest = typeof CreateModelRequest.Type

/** Result of `/create_model`: the model id is `${session_id}:train:${model_seq_id}`. */
export const CreateModelResponse = Schema.Struct({
  model_id: Schema.String,
  type: typeTag("create_model")
})
export type CreateModelResponse = typeof CreateModelResponse.Type

/** `POST /optim_step` body. */
export const OptimStepRequest = Schema.Struct({
  adam_params: AdamParams,
  model_id: Schema.String,
  seq_id: Schema.Int,
  type: typeTag("optim_step")
})
export type OptimStepRequest = typeof OptimStepRequest.Type

/** Result of `/optim_step`. */
export const OptimStepResponse = Schema.Struct({
  metrics: optionalNullable(Schema.Record(Schema.String, Schema.Finite))
})
export type OptimStepResponse = typeof OptimStepResponse.Type

/** `POST /save_weights` body: saves weights and optimizer state under the name `path`. */
export const SaveWeightsRequest = Schema.Struct({
  model_id: Schema.String,
  path: Schema.String,
  seq_id: Schema.Int,
  ttl_seconds: optionalNullable(Schema.Int),
  overwrite: defaultFalse,
  type: typeTag("save_weights")
})
export type SaveWeightsRequest = typeof SaveWeightsRequest.Type

/** Result of `/save_weights`: `tinker://<model_id>/weights/<name>`. */
export const SaveWeightsResponse = Schema.Struct({
  path: Schema.String,
  type: typeTag("save_weights")
})
export type SaveWeightsResponse = typeof SaveWeightsResponse.Type

/**
 * `POST /save_weights_for_sampler` body: named weights (`path`), or, without a name,
 * ephemeral weights for the sampling session `sampling_session_seq_id`.
 */
export const SaveWeightsForSamplerRequest = Schema.Struct({
  model_id: Schema.String,
  path: optionalNullable(Schema.String),
  sampling_session_seq_id: optionalNullable(Schema.Int),
  seq_id: Schema.Int,
  ttl_seconds: optionalNullable(Schema.Int),
  type: typeTag("save_weights_for_sampler")
})
export type SaveWeightsForSamplerRequest = typeof SaveWeightsForSamplerRequest.Type

/** Result of `/save_weights_for_sampler`: `tinker://<model_id>/sampler_weights/<name>`. */
export const SaveWeightsForSamplerResponse = Schema.Struct({
  // Absent when the save opened a sampling session (`sampling_session_seq_id`) without a name.
  path: optionalNullable(Schema.String),
  sampling_session_id: optionalNullable(Schema.String),
  type: typeTag("save_weights_for_sampler")
})
export type SaveWeightsForSamplerResponse = typeof SaveWeightsForSamplerResponse.Type

/** `POST /load_weights` body: restores a `tinker://` state, with its optimizer state when `optimizer`. */
export const LoadWeightsRequest = Schema.Struct({
  model_id: Schema.String,
  seq_id: Schema.Int,
  path: Schema.String,
  optimizer: Schema.Boolean,
  weights_access_token: optionalNullable(Schema.String),
  type: typeTag("load_weights")
})
export type LoadWeightsRequest = typeof LoadWeightsRequest.Type

/** Result of `/load_weights`. */
export const LoadWeightsResponse = Schema.Struct({
  path: optionalNullable(Schema.String),
  model_id: optionalNullable(Schema.String),
  type: typeTag("load_weights")
})
export type LoadWeightsResponse = typeof LoadWeightsResponse.Type

/** `POST /unload_model` body. */
export const UnloadModelRequest = Schema.Struct({
  model_id: Schema.String,
  type: typeTag("unload_model")
})
export type UnloadModelRequest = typeof UnloadModelRequest.Type

/** Result of `/unload_model`. */
export const UnloadModelResponse = Schema.Struct({
  model_id: Schema.String,
  type: typeTag("unload_model")
})
export type UnloadModelResponse = typeof UnloadModelResponse.Type

/** `POST /get_info` body. */
export const GetInfoRequest = Schema.Struct({
  model_id: Schema.String,
  type: typeTag("get_info")
})
export type GetInfoRequest = typeof GetInfoRequest.Type

/** What `/get_info` says about a model's base. */
export const ModelData = Schema.Struct({
  arch: optionalNullable(Schema.String),
  model_name: optionalNullable(Schema.String),
  tokenizer_id: optionalNullable(Schema.String)
})
export type ModelData = typeof ModelData.Type

/** sous extension of `/get_info`: the trained weight count and the device they live on. */
export const SousModelInfo = Schema.Struct({
  parameter_count: NonNegativeInt,
  device: Schema.String
})
export type SousModelInfo = typeof SousModelInfo.Type

/** `POST /get_info` reply. */
export const GetInfoResponse = Schema.Struct({
  type: typeTag("get_info"),
  model_data: ModelData,
  model_id: Schema.String,
  is_lora: optionalNullable(Schema.Boolean),
  lora_rank: optionalNullable(Schema.Int),
  model_name: optionalNullable(Schema.String),
  sous: Schema.optionalKey(SousModelInfo)
})
export type GetInfoResponse = typeof GetInfoResponse.Type

// ---------------------------------------------------------------------------------------------
// Sampling

/** sous extension of `/create_sampling_session`: how to build a base model from scratch. */
export const SousSamplingSpec = Schema.Struct({
  architecture: ModelArchitecture,
  seed: Schema.Int
})
export type SousSamplingSpec = typeof SousSamplingSpec.Type

/** `POST /create_sampling_session` body: sample from `model_path` weights, or from `base_model`. */
export const CreateSamplingSessionRequest = Schema.Struct({
  session_id: Schema.String,
  sampling_session_seq_id: NonNegativeInt,
  base_model: optionalNullable(Schema.String),
  model_path: optionalNullable(Schema.String),
  sous: Schema.optionalKey(SousSamplingSpec),
  type: typeTag("create_sampling_session")
})
export type CreateSamplingSessionRequest = typeof CreateSamplingSessionRequest.Type

/** `POST /create_sampling_session` reply. */
export const CreateSamplingSessionResponse = Schema.Struct({
  type: typeTag("create_sampling_session"),
  sampling_session_id: Schema.String
})
export type CreateSamplingSessionResponse = typeof CreateSamplingSessionResponse.Type

// Python callers may pass any 64-bit seed (the service folds it into range); a JSON number past
// 2^53 is already rounded, so it folds into the safe integers and stays deterministic.
const Seed = Schema.Finite.check(Schema.makeFilter((value: number) => Number.isInteger(value), { expected: "an integer" }))
const foldSeed = (seed: number): number => (Number.isSafeInteger(seed) ? seed : seed % 2 ** 53)

/**
 * `sampling_params` as the SDK sends them: every field optional or null, stop given as a
 * string, strings or token ids. Decodes to the port's {@link SamplingParams} with its defaults.
 */
export const WireSamplingParams = Schema.Struct({
  max_tokens: optionalNullable(Schema.Int),
  seed: optionalNullable(Seed),
  stop: optionalNullable(Schema.Union([Schema.String, Schema.Array(Schema.String), Schema.Array(Schema.Int)])),
  temperature: optionalNullable(Schema.Finite),
  top_k: optionalNullable(Schema.Int),
  top_p: optionalNullable(Schema.Finite)
}).pipe(
  Schema.decodeTo(SamplingParams, {
    decode: SchemaGetter.transform((params) => (params.seed === undefined ? params : { ...params, seed: foldSeed(params.seed) })),
    encode: SchemaGetter.transform((params) => params)
  })
)
export type WireSamplingParams = typeof WireSamplingParams.Type

/** `POST /asample` body; its future's result is a `SampleResponse`. */
export const SampleRequest = Schema.Struct({
  sampling_session_id: Schema.String,
  seq_id: Schema.Int,
  num_samples: PositiveInt.pipe(Schema.withDecodingDefaultKey(Effect.succeed(1))),
  prompt: ModelInput,
  sampling_params: WireSamplingParams,
  prompt_logprobs: optionalNullable(Schema.Boolean),
  topk_prompt_logprobs: NonNegativeInt.pipe(Schema.withDecodingDefaultKey(Effect.succeed(0))),
  type: typeTag("sample")
})
export type SampleRequest = typeof SampleRequest.Type

// ---------------------------------------------------------------------------------------------
// Server

/** One model a service offers. */
export const SupportedModel = Schema.Struct({
  model_name: optionalNullable(Schema.String),
  max_context_length: optionalNullable(Schema.Int)
})
export type SupportedModel = typeof SupportedModel.Type

/** `POST /weights_info` body: which checkpoint to describe (the SDK's `create_training_client_from_state*`). */
export const WeightsInfoRequest = Schema.Struct({ tinker_path: Schema.String })
export type WeightsInfoRequest = typeof WeightsInfoRequest.Type

/** `/weights_info` reply: the settings of the model that saved a checkpoint. */
export const WeightsInfoResponse = Schema.Struct({
  base_model: Schema.String,
  is_lora: Schema.Boolean,
  lora_rank: optionalNullable(Schema.Int),
  train_unembed: optionalNullable(Schema.Boolean),
  train_mlp: optionalNullable(Schema.Boolean),
  train_attn: optionalNullable(Schema.Boolean)
})
export type WeightsInfoResponse = typeof WeightsInfoResponse.Type

/** `GET /samplers/<id>` reply: what a sampling session samples from. */
export const GetSamplerResponse = Schema.Struct({
  sampler_id: Schema.String,
  base_model: Schema.String,
  model_path: optionalNullable(Schema.String)
})
export type GetSamplerResponse = typeof GetSamplerResponse.Type

/** sous extension of `/get_server_capabilities`: the backend behind a `sous serve` server. */
export const SousServerCapabilities = Schema.Struct({
  backend: Schema.String,
  device: Schema.String,
  losses: Schema.Array(LossFnType),
  max_lora_rank: Schema.Int
})
export type SousServerCapabilities = typeof SousServerCapabilities.Type

/** `GET /get_server_capabilities` reply. */
export const GetServerCapabilitiesResponse = Schema.Struct({
  supported_models: Schema.Array(SupportedModel),
  sous: Schema.optionalKey(SousServerCapabilities)
})
export type GetServerCapabilitiesResponse = typeof GetServerCapabilitiesResponse.Type

/** `GET /healthz` reply. */
export const HealthResponse = Schema.Struct({
  status: Schema.Literal("ok")
})
export type HealthResponse = typeof HealthResponse.Type
