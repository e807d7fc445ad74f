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
  /**
   * Give up on a request once this many tries in a row found nothing listening (connection
   * refused): enough to ride out a server that restarts, with the backoff between them
   * (1 s, then 2 s by default), but no five-minute wait on a wrong port. Default 3.
   */
  readonly refusedTries?: number
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
  /** An http(s) URL without credentials, query or fragment, so fit to show in messages. */
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
 * `url` as it may be shown: scheme, host and path, without credentials, query or fragment
 * (where a key may sit). Text that is no URL is cut before its first `?` or `#` and stripped
 * of anything up to an `@`.
 */
export const printableUrl = (url: string): string => {
  if (URL.canParse(url)) {
    const parsed = new URL(url)
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`.replace(/\/+$/, "")
  }
  return url.replace(/[?#].*$/s, "").replace(/^([^:/]*:\/\/)?[^/]*@/, "$1")
}

/**
 * Why `baseUrl` cannot be the tinker base URL, or undefined when it can: not http(s), or with
 * credentials, a query or a fragment. The reason shows the URL only as {@link printableUrl}.
 * `validate` can make the same check the backend makes when it starts.
 */
export const tinkerBaseUrlProblem = (baseUrl: string): string | undefined => {
  const shown = printableUrl(baseUrl)
  if (!URL.canParse(baseUrl)) return `the tinker base URL must be an http(s) URL, got "${shown}"`
  const url = new URL(baseUrl)
  if (url.protocol !== "http:" && url.protocol !== "https:") return `the tinker base URL must be an http(s) URL, got "${shown}"`
  // fetch refuses such a URL on every request; the key goes in the environment instead.
  if (url.username !== "" || url.password !== "") {
    return `the tinker base URL ${shown} must not hold credentials (fetch refuses them); the API key is read from the environment`
  }
  // Each request's path (/api/v1/...) is appended to the base URL, so a query would swallow it.
  if (url.search !== "" || url.hash !== "") return `the tinker base URL ${shown} must not have a query or fragment`
  return undefined
}

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
    const problem = tinkerBaseUrlProblem(baseUrl)
    if (problem !== undefined) return yield* unavailable(problem)
    return {
      baseUrl,
      apiKey: Redacted.make(apiKey.trim()),
      apiKeyEnv,
      retry: {
        initialBackoffMs: options.retry?.initialBackoffMs ?? 1_000,
        maxBackoffMs: options.retry?.maxBackoffMs ?? 30_000,
        giveUpAfterMs: options.retry?.giveUpAfterMs ?? 300_000,
        refusedTries: options.retry?.refusedTries ?? 3
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
