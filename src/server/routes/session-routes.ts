import { Effect } from "effect"
import {
  ClientConfigRequest,
  type CreateSessionResponse,
  CreateSessionRequest,
  type GetServerCapabilitiesResponse,
  type HealthResponse,
  SessionHeartbeatRequest,
  type SessionHeartbeatResponse
} from "../../protocol/index.js"
import { HttpFailure, jsonReply } from "../http-reply.js"
import { decodeJsonBody } from "../request-body.js"
import type { ClientSession, Route, RouteRequest, ServerState } from "../server-state.js"

/**
 * The session `sessionId` of the caller's key; a 404 (with `hint` after the id) if there is
 * none, whether it never existed, was forgotten or is another key's: all read the same.
 */
export const sessionOf = (state: ServerState, request: RouteRequest, sessionId: string, hint: string): Effect.Effect<ClientSession, HttpFailure> => {
  const session = state.sessions.get(sessionId)
  return session === undefined || session.owner !== request.tenant.name
    ? Effect.fail(
      new HttpFailure({ status: 404, message: state.instance.unknown("session_id", sessionId, `unknown session_id ${JSON.stringify(sessionId)}${hint}`) })
    )
    : Effect.succeed(session)
}

// The SDK's own defaults for a forward/backward chunk: 1024 datums, about 5 MB serialized.
const sdkChunkLen = 1024
const sdkChunkBytes = 5_000_000

/**
 * `client/config`: the feature flags the SDK reads before anything else. Forward/backward
 * bodies may be zstd-compressed, and their chunks are kept well under the body limit (the
 * SDK's size estimate leaves out protobuf framing).
 */
const clientConfig = (state: ServerState) => (request: RouteRequest) =>
  Effect.gen(function*() {
    yield* decodeJsonBody(ClientConfigRequest, request.body)
    return jsonReply({
      pjwt_auth_enabled: false,
      credential_default_source: "api_key",
      proto_compress_fwdbwd: true,
      parallel_fwdbwd_chunks: true,
      fwdbwd_max_chunk_len: sdkChunkLen,
      fwdbwd_max_chunk_bytes_count: Math.max(1, Math.min(sdkChunkBytes, Math.floor(state.options.maxBodyBytes / 2))),
      sample_max_concurrent_requests: 2000,
      create_model_via_load_weights: false,
      // Plain HTTP on loopback: the SDK's default transport is enough.
      use_pyqwest_transport: false
    })
  })

/** `client/dynamic_config`: the flags the SDK re-reads every few minutes; none change here. */
const clientDynamicConfig = (request: RouteRequest) =>
  Effect.gen(function*() {
    yield* decodeJsonBody(ClientConfigRequest, request.body)
    return jsonReply({ refresh_interval_sec: 300 })
  })

/** `create_session`: a fresh session id; retries of one request replay it by idempotency key. */
const createSession = (state: ServerState) => (request: RouteRequest) =>
  Effect.gen(function*() {
    yield* decodeJsonBody(CreateSessionRequest, request.body)
    // With the run's marker, which model and sampling session ids inherit (`<session>:train:<n>`).
    const sessionId = state.instance.sessionId()
    state.sessions.set(sessionId, { owner: request.tenant.name, lastSeenAt: Date.now() })
    return jsonReply({ type: "create_session", session_id: sessionId } satisfies CreateSessionResponse)
  })

/** `session_heartbeat`: keeps a session of the caller's key alive; any other is a 404. */
const sessionHeartbeat = (state: ServerState) => (request: RouteRequest) =>
  Effect.gen(function*() {
    const body = yield* decodeJsonBody(SessionHeartbeatRequest, request.body)
    const session = yield* sessionOf(state, request, body.session_id, "")
    session.lastSeenAt = Date.now()
    return jsonReply({ type: "session_heartbeat" } satisfies SessionHeartbeatResponse)
  })

/** `get_server_capabilities`: the named base models, and (sous extension) the backend behind them. */
const serverCapabilities = (state: ServerState) => () =>
  Effect.gen(function*() {
    const capabilities = yield* state.backend.capabilities
    const reply: GetServerCapabilitiesResponse = {
      supported_models: Object.entries(state.options.baseModels).map(([name, architecture]) => ({
        model_name: name,
        ...(architecture.kind === "transformer" || architecture.kind === "hf" ? { max_context_length: architecture.contextLength } : {})
      })),
      sous: {
        backend: capabilities.backend,
        device: capabilities.device,
        losses: capabilities.losses,
        max_lora_rank: capabilities.maxLoraRank
      }
    }
    return jsonReply(reply)
  })

/** `telemetry`: the SDK reports its own events here; they are accepted and dropped. */
const telemetry = () => Effect.succeed(jsonReply({ status: "accepted" }))

/** The routes a client needs before it trains: flags, sessions, capabilities, health. */
export const sessionRoutes = (state: ServerState): ReadonlyArray<Route> => [
  { method: "GET", path: "/healthz", body: undefined, kind: "public", handle: () => Effect.succeed(jsonReply({ status: "ok" } satisfies HealthResponse)) },
  { method: "POST", path: "/client/config", body: "application/json", kind: "read", handle: clientConfig(state) },
  { method: "POST", path: "/client/dynamic_config", body: "application/json", kind: "read", handle: clientDynamicConfig },
  { method: "POST", path: "/create_session", body: "application/json", kind: "submission", handle: createSession(state) },
  { method: "POST", path: "/session_heartbeat", body: "application/json", kind: "read", handle: sessionHeartbeat(state) },
  { method: "GET", path: "/get_server_capabilities", body: undefined, kind: "read", handle: serverCapabilities(state) },
  { method: "POST", path: "/telemetry", body: "application/json", kind: "read", handle: telemetry }
]
