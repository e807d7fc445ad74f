import type { IncomingMessage } from "node:http"
import type { Deferred, Effect, Scope } from "effect"
import type {
  BackendUnavailableError,
  LoraConfig,
  ModelArchitecture,
  TrainingBackend,
  TrainingCallError,
  TrainingClient
} from "../ports/index.js"
import type { FutureStore } from "./future-store.js"
import type { Timeline } from "./future-runner.js"
import type { HttpFailure, Reply } from "./http-reply.js"
import type { ModelSequencer } from "./model-sequencer.js"
import type { SamplingSessions } from "./sampling-sessions.js"
import type { ResolvedServerOptions } from "./server-options.js"
import type { ServerStats } from "./server-stats.js"
import type { WeightStore } from "./weight-store.js"

/** A training model the server holds, from `create_model` until `unload_model`. */
export interface TrainingModel {
  readonly modelId: string
  readonly sessionId: string
  readonly baseModel: string
  readonly architecture: ModelArchitecture | undefined
  readonly lora: LoraConfig | undefined
  /** Settles when the backend has built the client (creation can take a while). */
  readonly client: Deferred.Deferred<TrainingClient["Service"], TrainingCallError | BackendUnavailableError>
  readonly sequencer: ModelSequencer
  readonly timeline: Timeline
  /** Holds the model's client and sequencer; closing it frees the model (`unload_model`). */
  readonly scope: Scope.Closeable
}

/** Everything the route handlers share. */
export interface ServerState {
  readonly options: ResolvedServerOptions
  readonly backend: TrainingBackend["Service"]
  /** The server's scope: fibers that outlive a request run here, and stop with the server. */
  readonly scope: Scope.Scope
  readonly futures: FutureStore
  readonly weights: WeightStore
  readonly samplers: SamplingSessions
  readonly stats: ServerStats
  /**
   * Client sessions by id. They never expire: a session holds nothing that needs freeing
   * (its models and samplers are held on their own), so heartbeats only check the id.
   */
  readonly sessions: Set<string>
  readonly models: Map<string, TrainingModel>
  /** `create_model` requests by `<session_id>/<model_seq_id>`, so a retry gets the first one's future. */
  readonly modelRequests: Map<string, string>
  /**
   * What each sampling session samples from, by its id, for `GET /samplers/<id>`. Kept when
   * the session itself is freed: a few strings, and the SDK may still ask.
   */
  readonly samplerSources: Map<string, SamplerSource>
}

/** What a sampling session samples from: a base model, and the checkpoint when there is one. */
export interface SamplerSource {
  /** Undefined when the session samples a checkpoint of a model this server no longer holds. */
  readonly baseModel: string | undefined
  readonly modelPath: string | undefined
}

/** A request as a route handler sees it: its body read (and decompressed) in full. */
export interface RouteRequest {
  readonly message: IncomingMessage
  readonly body: Uint8Array
  /** When the request arrived (ms since the epoch), for the queue time of its future. */
  readonly arrivedAt: number
  /** The last path segment, as sent (still percent-encoded), for a route whose path ends in `/*`. */
  readonly pathParameter: string | undefined
}

/**
 * How the server treats a route. `public`: no API key needed. `read`: no state changes.
 * `poll`: `retrieve_future`, which long-polls and is the only route a 410 fault hits.
 * `submission`: changes state, so `X-Idempotency-Key` replays its first answer and a fault
 * may hit it after it was applied.
 */
export type RouteKind = "public" | "read" | "poll" | "submission"

/** One endpoint under `/api/v1`. */
export interface Route {
  readonly method: "GET" | "POST"
  readonly path: string
  /** The media type the body must have; none for bodiless routes. */
  readonly body: "application/json" | "application/x-protobuf" | undefined
  readonly kind: RouteKind
  readonly handle: (request: RouteRequest) => Effect.Effect<Reply, HttpFailure>
}
