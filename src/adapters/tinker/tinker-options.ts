import { Effect, Redacted } from "effect"
import { BackendUnavailableError } from "../../ports/index.js"

/** The public Tinker service, used when neither `baseUrl` nor `TINKER_BASE_URL` is set. */
export const defaultTinkerBaseUrl = "https://tinker.thinkingmachines.dev/services/tinker-prod"

/** How a request that failed in passing (a 429, a 5xx, a dropped connection) is tried again. */
export interface TinkerRetryOptions {
  /** Wait before the first retry; each further retry waits twice as long. Default 1 s. */
  readonly initialBackoffMs?: number
  /** Longest wait between two tries. Default 30 s. */
  readonly maxBackoffMs?: number
  /**
   * Stop retrying once a request has been failing this long, resubmissions of a request whose
   * result expired (HTTP 410) included. Default 5 min.
   */
  readonly giveUpAfterMs?: number
}

/** How long the client waits out a paused account (HTTP 402) before it gives up. */
export interface TinkerBillingOptions {
  /** Wait between tries while paused. Default 5 s. */
  readonly pauseMs?: number
  /** Give up once paused this long. Default 1 h. */
  readonly maxPauseMs?: number
}

/** Chunk limits of forward/backward batches; what the server's `/client/config` says by default. */
export interface TinkerChunkLimits {
  readonly maxDatums?: number
  readonly maxBytes?: number
}

/** Settings of the Tinker backend (a client of the Tinker HTTP protocol). */
export interface TinkerBackendOptions {
  /** Base URL of the service; default `TINKER_BASE_URL`, then {@link defaultTinkerBaseUrl}. */
  readonly baseUrl?: string
  /** The API key; default the variable `apiKeyEnv` names. It never appears in a message or log. */
  readonly apiKey?: string
  /** Environment variable that holds the API key. Default `TINKER_API_KEY`. */
  readonly apiKeyEnv?: string
  /** Where `TINKER_BASE_URL` and the key are read. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>
  readonly retry?: TinkerRetryOptions
  readonly billing?: TinkerBillingOptions
  /** Longest wait for one submission round trip. Default 60 s. */
  readonly requestTimeoutMs?: number
  /** Longest wait for one long poll of `/retrieve_future`. Default 45 s. */
  readonly pollTimeoutMs?: number
  /** Time between session heartbeats. Default 10 s. */
  readonly heartbeatIntervalMs?: number
  /** Heartbeats failing this long are logged as a warning. Default 120 s. */
  readonly heartbeatWarnAfterMs?: number
  readonly chunkLimits?: TinkerChunkLimits
  /** Sent with the session (`create_session.user_metadata`). */
  readonly userMetadata?: Readonly<Record<string, string>>
}

/** {@link TinkerBackendOptions} with every default filled in and the key wrapped so it never prints. */
export interface TinkerSettings {
  readonly baseUrl: string
  readonly apiKey: Redacted.Redacted<string>
  readonly apiKeyEnv: string
  readonly retry: Required<TinkerRetryOptions>
  readonly billing: Required<TinkerBillingOptions>
  readonly requestTimeoutMs: number
  readonly pollTimeoutMs: number
  readonly heartbeatIntervalMs: number
  readonly heartbeatWarnAfterMs: number
  readonly chunkLimits: TinkerChunkLimits
  readonly userMetadata: Readonly<Record<string, string>> | undefined
}

const unavailable = (message: string) => new BackendUnavailableError({ backend: "tinker", message })

/**
 * Fills in the defaults and reads the environment. A missing key fails with a
 * `BackendUnavailableError` that names the variable to set (never a key's value).
 */
export const resolveTinkerOptions = (
  options: TinkerBackendOptions = {}
): Effect.Effect<TinkerSettings, BackendUnavailableError> =>
  Effect.gen(function*() {
    const env = options.env ?? process.env
    const apiKeyEnv = options.apiKeyEnv ?? "TINKER_API_KEY"
    const apiKey = options.apiKey ?? env[apiKeyEnv]
    if (apiKey === undefined || apiKey.trim() === "") {
      return yield* unavailable(
        `the tinker backend needs an API key: set ${apiKeyEnv} (it is sent as the X-API-Key header)`
      )
    }
    const baseUrl = (options.baseUrl ?? env["TINKER_BASE_URL"] ?? defaultTinkerBaseUrl).replace(/\/+$/, "")
    if (!URL.canParse(baseUrl) || !/^https?:$/.test(new URL(baseUrl).protocol)) {
      return yield* unavailable(`the tinker base URL must be an http(s) URL, got "${baseUrl}"`)
    }
    return {
      baseUrl,
      apiKey: Redacted.make(apiKey.trim()),
      apiKeyEnv,
      retry: {
        initialBackoffMs: options.retry?.initialBackoffMs ?? 1_000,
        maxBackoffMs: options.retry?.maxBackoffMs ?? 30_000,
        giveUpAfterMs: options.retry?.giveUpAfterMs ?? 300_000
      },
      billing: {
        pauseMs: options.billing?.pauseMs ?? 5_000,
        maxPauseMs: options.billing?.maxPauseMs ?? 3_600_000
      },
      requestTimeoutMs: options.requestTimeoutMs ?? 60_000,
      pollTimeoutMs: options.pollTimeoutMs ?? 45_000,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 10_000,
      heartbeatWarnAfterMs: options.heartbeatWarnAfterMs ?? 120_000,
      chunkLimits: options.chunkLimits ?? {},
      userMetadata: options.userMetadata
    }
  })
