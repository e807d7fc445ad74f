import { Clock, Effect, Schedule, Scope } from "effect"
import { BackendUnavailableError } from "../../ports/index.js"
import { decodeReply, type RequestRunner } from "./remote-request.js"
import { jsonBody, newIdempotencyKey, replyJson, type TinkerHttp, type TinkerRequestError } from "./tinker-http.js"
import type { TinkerSettings } from "./tinker-options.js"
import { ClientConfigResponse, CreateSessionResponse } from "../../protocol/index.js"

/**
 * The version of the Tinker SDK whose protocol this client speaks (protobuf forward/backward
 * requests and results). Servers tell clients apart by it.
 */
export const protocolVersion = "0.25.0"

/** How forward/backward batches are cut and sent, as the server's `/client/config` says. */
export interface ForwardBackwardLimits {
  readonly maxDatums: number
  readonly maxBytes: number
  /** zstd-compress the protobuf body (`Content-Encoding: zstd`). */
  readonly compress: boolean
}

/** One session with a Tinker service: its id, limits and counters, and where its requests run. */
export interface TinkerSession extends RequestRunner {
  readonly sessionId: string
  readonly limits: ForwardBackwardLimits
  /** The next `model_seq_id` (0, 1, 2, ...): one per training client of the session. */
  readonly nextModelSeqId: () => number
  /** The next `sampling_session_seq_id` (0, 1, 2, ...). */
  readonly nextSamplingSessionSeqId: () => number
}

/** The error a failed bootstrap request becomes: the backend cannot be used. */
export const unavailable = (error: TinkerRequestError): BackendUnavailableError =>
  new BackendUnavailableError({ backend: "tinker", message: error.message, cause: error })

/**
 * Sends a session heartbeat every `heartbeatIntervalMs` until the scope closes; one try each,
 * and a warning while none has gone through for `heartbeatWarnAfterMs`.
 */
const heartbeat = (http: TinkerHttp, sessionId: string): Effect.Effect<unknown> =>
  Effect.gen(function*() {
    const { settings } = http
    let lastOk = yield* Clock.currentTimeMillis
    const beat = Effect.gen(function*() {
      const outcome = yield* http.attempt({
        endpoint: "/session_heartbeat",
        body: jsonBody({ session_id: sessionId, type: "session_heartbeat" }),
        timeoutMs: Math.min(settings.heartbeatIntervalMs, settings.requestTimeoutMs)
      }, newIdempotencyKey())
      const now = yield* Clock.currentTimeMillis
      if (outcome._tag === "Reply" && outcome.reply.status >= 200 && outcome.reply.status < 300) {
        lastOk = now
        return
      }
      if (now - lastOk > settings.heartbeatWarnAfterMs) {
        const last = outcome._tag === "Reply" ? `HTTP ${outcome.reply.status}` : outcome.message
        yield* Effect.logWarning(
          `tinker: session heartbeats have failed for ${Math.round((now - lastOk) / 1000)} s (last: ${last}); ` +
            "the connection may be down, and the service ends sessions it stops hearing from"
        ).pipe(Effect.annotateLogs({ endpoint: "/session_heartbeat", session_id: sessionId }))
      }
    })
    // The first beat, like each after it, comes one interval after the one before.
    return yield* Effect.schedule(beat, Schedule.spaced(settings.heartbeatIntervalMs))
  })

/**
 * Opens a session: reads the server's `/client/config`, creates the session, and starts its
 * heartbeat, which stops when the scope closes (as do requests still running).
 */
export const openTinkerSession = (
  http: TinkerHttp
): Effect.Effect<TinkerSession, BackendUnavailableError, Scope.Scope> =>
  Effect.gen(function*() {
    const settings: TinkerSettings = http.settings
    const post = (endpoint: string, body: unknown) =>
      Effect.map(http.submit({ endpoint, body: jsonBody(body) }), (submitted) => replyJson(submitted.reply))

    const config = yield* post("/client/config", { sdk_version: protocolVersion }).pipe(
      Effect.flatMap((json) => decodeReply(ClientConfigResponse, "/client/config", json)),
      Effect.mapError(unavailable)
    )
    const created = yield* post("/create_session", {
      tags: ["sous"],
      ...(settings.userMetadata === undefined ? {} : { user_metadata: settings.userMetadata }),
      sdk_version: protocolVersion,
      type: "create_session"
    }).pipe(
      Effect.flatMap((json) => decodeReply(CreateSessionResponse, "/create_session", json)),
      Effect.mapError(unavailable)
    )
    const sessionId = created.session_id
    // What the service tells a new session (a notice, a deprecation) is for the user.
    if (created.info_message !== undefined) yield* Effect.logInfo(`tinker: ${created.info_message}`)
    if (created.warning_message !== undefined) yield* Effect.logWarning(`tinker: ${created.warning_message}`)
    if (created.error_message !== undefined) yield* Effect.logError(`tinker: ${created.error_message}`)
    const scope = yield* Effect.scope
    let open = true
    yield* Scope.addFinalizer(scope, Effect.sync(() => {
      open = false
    }))
    yield* Effect.forkIn(heartbeat(http, sessionId), scope)

    let models = 0
    let samplers = 0
    return {
      http,
      scope,
      isOpen: () => open,
      sessionId,
      limits: {
        maxDatums: settings.chunkLimits.maxDatums ?? config.fwdbwd_max_chunk_len ?? 1024,
        maxBytes: settings.chunkLimits.maxBytes ?? config.fwdbwd_max_chunk_bytes_count ?? 5_000_000,
        compress: config.proto_compress_fwdbwd ?? false
      },
      nextModelSeqId: () => models++,
      nextSamplingSessionSeqId: () => samplers++
    }
  })
