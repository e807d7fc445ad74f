import * as os from "node:os"
import type { ModelArchitecture } from "../ports/index.js"
import { type ApiKeyConfig, type KeyQuota, type KnownKey, resolveKeys } from "./api-keys.js"
import type { FaultKind, FaultOptions } from "./fault-injection.js"
import { defaultGapTimeoutMs } from "./model-sequencer.js"

/** One answered request, for the `log` hook. Never holds the API key or a body. */
export interface RequestLogEntry {
  readonly method: string
  readonly path: string
  /** The status sent; 0 for a connection cut by a fault, 499 when the client hung up first. */
  readonly status: number
  readonly ms: number
  /** The fault injected into this request, if any. */
  readonly fault?: FaultKind
  /** Whether the fault came before the request was handled or after (its answer lost). */
  readonly faultTiming?: "before" | "after"
}

/** Settings of `sous serve`'s HTTP server. */
export interface ServerOptions {
  /**
   * A key every request but `GET /api/v1/healthz` may send as `X-API-Key`: one client (named
   * `default`) with the default quota. The Python SDK refuses to send a key that does not
   * start with `tml-`, so pick one that does. Give it, `keys`, or both.
   */
  readonly apiKey?: string
  /**
   * Keys of several clients, each with its own name and quota. What one key creates (sessions,
   * models, checkpoints, samplers, futures) is invisible to the others: they get 404, as for
   * an id that does not exist.
   */
  readonly keys?: ReadonlyArray<ApiKeyConfig>
  /** The quota of a key that sets none (or part of one). Default: 64 models, `samplerLimit` samplers, the server's memory budget. */
  readonly quota?: Partial<KeyQuota>
  /**
   * Bytes of model memory (weights, gradients, optimizer state, as the local backend holds
   * them) over every key; a model or sampler that would pass it is refused before it is built.
   * Default: half the machine's memory.
   */
  readonly memoryBudgetBytes?: number
  /**
   * How long a model, sampling session or client session may go unused before the server
   * frees it (a model with requests still running is not idle). Default 1 hour.
   */
  readonly idleTtlMs?: number
  /** Interface to listen on; 127.0.0.1 unless said, so a server is not exposed by accident. */
  readonly host?: string
  /** TCP port; 0 (the default) takes any free one. */
  readonly port?: number
  /**
   * Directory the saved weights go to, one file per checkpoint. Without it a temporary
   * directory is used and removed when the server closes.
   */
  readonly stateDir?: string
  /** Largest request body accepted, as sent (413 beyond it). Default 64 MiB. */
  readonly maxBodyBytes?: number
  /** Largest body a zstd-compressed request may expand to (413 beyond it). Default 256 MiB. */
  readonly maxDecompressedBytes?: number
  /** How long `retrieve_future` waits for a result before answering `try_again`. Default 20 s. */
  readonly pollWaitMs?: number
  /**
   * How long a finished sample's result stays retrievable; later polls get 410 (the client
   * samples again). A training request's result is kept until it is first retrieved, while its
   * model is held (for at most `idleTtlMs`), then this long. Default 15 min.
   */
  readonly futureTtlMs?: number
  /**
   * How long a model's requests may wait behind a `seq_id` that has not arrived before they
   * are refused and the order moves past it. Default 5 min: as long as the Python SDK goes on
   * retrying a submission, so a request it is still sending is never skipped.
   */
  readonly gapTimeoutMs?: number
  /**
   * Results larger than this are announced with `complete_metadata` to a poll that allows it,
   * so the client can reserve memory before it downloads them. Default 8 MiB.
   */
  readonly metadataThresholdBytes?: number
  /**
   * Most sampling sessions one key holds at once (unless its quota says otherwise); beyond it
   * the key's least recently used idle one is freed. A client that refreshes its sampler every
   * RL step must not grow the server. Default 8.
   */
  readonly samplerLimit?: number
  /**
   * Named base models this server builds from an architecture (the local backend has no
   * named models), so a client that sends only `base_model` (the Python SDK) can train them.
   */
  readonly baseModels?: Readonly<Record<string, ModelArchitecture>>
  /** Simulated network and server trouble, for tests and benchmarks. */
  readonly faults?: FaultOptions
  /** Called once per answered request; without it each request is logged at debug level. */
  readonly log?: (entry: RequestLogEntry) => void
}

/** {@link ServerOptions} with every default filled in. */
export interface ResolvedServerOptions {
  readonly keys: ReadonlyArray<KnownKey>
  readonly memoryBudgetBytes: number
  readonly idleTtlMs: number
  readonly host: string
  readonly port: number
  readonly maxBodyBytes: number
  readonly maxDecompressedBytes: number
  readonly pollWaitMs: number
  readonly futureTtlMs: number
  readonly gapTimeoutMs: number
  readonly metadataThresholdBytes: number
  readonly samplerLimit: number
  readonly baseModels: Readonly<Record<string, ModelArchitecture>>
}

const MiB = 1024 * 1024

/** Fills in the defaults; a setting out of range is an error that names it. */
export const resolveServerOptions = (options: ServerOptions): ResolvedServerOptions => {
  const positive = (name: string, value: number | undefined, fallback: number): number => {
    const resolved = value ?? fallback
    if (!(Number.isFinite(resolved) && resolved > 0)) throw new Error(`${name} must be a positive number, got ${resolved}`)
    return resolved
  }
  if (options.apiKey === "") throw new Error("apiKey must not be empty: every request is checked against it")
  if (options.apiKey === undefined && (options.keys ?? []).length === 0) throw new Error("give apiKey or keys: every request is checked against them")
  const port = options.port ?? 0
  if (!(Number.isInteger(port) && port >= 0 && port < 65536)) throw new Error(`port must be an integer in [0, 65535], got ${port}`)
  const samplerLimit = positive("samplerLimit", options.samplerLimit, 8)
  if (!Number.isInteger(samplerLimit)) throw new Error(`samplerLimit must be an integer, got ${samplerLimit}`)
  const memoryBudgetBytes = positive("memoryBudgetBytes", options.memoryBudgetBytes, Math.floor(os.totalmem() / 2))
  const quota: KeyQuota = {
    maxModels: positive("quota.maxModels", options.quota?.maxModels, 64),
    maxSamplers: positive("quota.maxSamplers", options.quota?.maxSamplers, samplerLimit),
    memoryBytes: positive("quota.memoryBytes", options.quota?.memoryBytes, memoryBudgetBytes)
  }
  const single: ReadonlyArray<ApiKeyConfig> = options.apiKey === undefined ? [] : [{ name: "default", key: options.apiKey }]
  return {
    keys: resolveKeys([...single, ...(options.keys ?? [])], quota),
    memoryBudgetBytes,
    idleTtlMs: positive("idleTtlMs", options.idleTtlMs, 60 * 60_000),
    host: options.host ?? "127.0.0.1",
    port,
    maxBodyBytes: positive("maxBodyBytes", options.maxBodyBytes, 64 * MiB),
    maxDecompressedBytes: positive("maxDecompressedBytes", options.maxDecompressedBytes, 256 * MiB),
    pollWaitMs: positive("pollWaitMs", options.pollWaitMs, 20_000),
    futureTtlMs: positive("futureTtlMs", options.futureTtlMs, 15 * 60_000),
    gapTimeoutMs: positive("gapTimeoutMs", options.gapTimeoutMs, defaultGapTimeoutMs),
    metadataThresholdBytes: positive("metadataThresholdBytes", options.metadataThresholdBytes, 8 * MiB),
    samplerLimit,
    baseModels: options.baseModels ?? {}
  }
}
