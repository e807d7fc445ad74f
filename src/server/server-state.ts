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
import type { Tenant } from "./api-keys.js"
import type { FutureStore } from "./future-store.js"
import type { Timeline } from "./future-runner.js"
import type { HttpFailure, Reply } from "./http-reply.js"
import type { ModelSequencer } from "./model-sequencer.js"
import type { Reservation, ResourceBudget } from "./resource-budget.js"
import type { CheckpointCatalog } from "./routes/checkpoint-catalog.js"
import type { SamplerWeights } from "./sampler-weights.js"
import type { SamplingSessions } from "./sampling-sessions.js"
import type { ServerInstance } from "./server-instance.js"
import type { ResolvedServerOptions } from "./server-options.js"
import type { ServerStats } from "./server-stats.js"
import type { WeightStore } from "./weight-store.js"

/** A training model the server holds, from `create_model` until `unload_model` or until it expires. */
export interface TrainingModel {
  readonly modelId: string
  /** The name of the key that created it: no other key sees it. */
  readonly owner: string
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
  /** Its memory and slot in its key's quota. */
  readonly reservation: Reservation
  /** When a request last named it or one of its requests finished, for the idle time to live. */
  lastUsedAt: number
  /** Its requests accepted and not yet finished: a model with any is not idle. */
  inFlight: number
}

/** A client session: whose it is, and when its client last showed it is alive. */
export interface ClientSession {
  readonly owner: string
  lastSeenAt: number
}

/** Everything the route handlers share. */
export interface ServerState {
  readonly options: ResolvedServerOptions
  readonly backend: TrainingBackend["Service"]
  /** The server's scope: fibers that outlive a request run here, and stop with the server. */
  readonly scope: Scope.Scope
  /** This run of the server, whose marker its ids carry (to tell a restart from a typo). */
  readonly instance: ServerInstance
  readonly futures: FutureStore
  readonly weights: WeightStore
  readonly samplers: SamplingSessions
  /** The weights of sampling sessions no checkpoint holds, so that a freed one can be built again. */
  readonly samplerWeights: SamplerWeights
  readonly stats: ServerStats
  /** Memory and counts held by each key, against their quotas and the server's budget. */
  readonly budget: ResourceBudget
  /**
   * Client sessions by id. A session holds nothing that needs freeing (its models and
   * samplers are held on their own); one without heartbeats or models for the idle time to
   * live is forgotten, with its `modelRequests` and `samplerSources`.
   */
  readonly sessions: Map<string, ClientSession>
  readonly models: Map<string, TrainingModel>
  /** `create_model` requests by `<session_id>/<model_seq_id>`, so a retry gets the first one's future. */
  readonly modelRequests: Map<string, string>
  /**
   * What each sampling session samples from, by its id, for `GET /samplers/<id>`. Kept when
   * the sampling session itself is freed (a few strings, and the SDK may still ask), until its
   * client session is forgotten.
   */
  readonly samplerSources: Map<string, SamplerSource>
  /** The checkpoint files as the REST API lists them (`weights` reads, writes, deletes and expires them). */
  readonly checkpoints: CheckpointCatalog
}

/** What a sampling session samples from: a base model, and the checkpoint when there is one. */
export interface SamplerSource {
  /** The name of the key that created it. */
  readonly owner: string
  /** Undefined when the session samples a checkpoint of a model this server no longer holds. */
  readonly baseModel: string | undefined
  readonly modelPath: string | undefined
}

/** A request as a route handler sees it: its body read (and decompressed) in full. */
export interface RouteRequest {
  readonly message: IncomingMessage
  /** Whose key the request holds (a placeholder without rights for `public` routes). */
  readonly tenant: Tenant
  readonly body: Uint8Array
  /** When the request arrived (ms since the epoch), for the queue time of its future. */
  readonly arrivedAt: number
  /** The last path segment, as sent (still percent-encoded), for a route whose path ends in `/*`. */
  readonly pathParameter: string | undefined
  /** The `{name}` segments of a route's path, decoded: `/training_runs/{id}` gives `id`. */
  readonly pathParameters: Readonly<Record<string, string>>
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
  readonly method: "GET" | "POST" | "PUT" | "DELETE"
  /** Exact, or with `{name}` segments that match any one segment, or ending in `/*`. */
  readonly path: string
  /** The media type the body must have; none for bodiless routes. */
  readonly body: "application/json" | "application/x-protobuf" | undefined
  readonly kind: RouteKind
  readonly handle: (request: RouteRequest) => Effect.Effect<Reply, HttpFailure>
}
