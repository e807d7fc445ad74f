import { HubApiError, type RepoId } from "@huggingface/hub"
import { Config, Effect, Option, Redacted } from "effect"
import { messageOf } from "../../ports/thrown-message.js"
import { maskedCause } from "../logging/redact-secrets.js"
import { HubRequestError } from "./hub-request-error.js"
import { formatHubUri, type HubLocation } from "./hub-uri.js"

/** Where the Hub is and who we are to it. Both fall back to the environment. */
export interface HubAccessOptions {
  /** Base URL of the Hub; default `HF_ENDPOINT`, then `https://huggingface.co`. */
  readonly hubUrl?: string
  /** An access token (`hf_…`); default `HF_TOKEN`. Reads of public repos need none. */
  readonly token?: Redacted.Redacted<string>
}

// The Hub's public address, used when neither `hubUrl` nor `HF_ENDPOINT` is set.
const defaultHubUrl = "https://huggingface.co"

/** What every @huggingface/hub call takes to reach one repo. */
export interface HubTarget {
  readonly repo: RepoId
  readonly hubUrl: string
  readonly accessToken?: string
}

/** One repo on one Hub, with the token kept out of every message. */
export interface HubClient {
  /** `hf://user/repo` or `hf://datasets/user/repo`, for messages. */
  readonly uri: string
  /**
   * Runs a @huggingface/hub call against the repo. A rejection becomes a {@link HubRequestError}
   * with the HTTP status and a message that names the repo and never the token.
   */
  readonly call: <A>(operation: string, run: (target: HubTarget) => Promise<A>) => Effect.Effect<A, HubRequestError>
  /** The error `call` makes of a failure, for failures met elsewhere (a download stream). */
  readonly toError: (operation: string, error: unknown) => HubRequestError
}

// What a status usually means here, so a 401 reads as a token problem rather than a puzzle.
const statusHints: Readonly<Record<number, string>> = {
  401: "the Hub did not accept the token; set HF_TOKEN (or the token option) to a valid token",
  403: "the token may not do this; it needs write access to the repo",
  404: "the repo or file does not exist, or the token cannot see it",
  412: "the repo changed since it was read",
  429: "the Hub is rate limiting requests"
}

// The reason an error gives as its cause (`: connect ECONNREFUSED ...`), or nothing.
const causeText = (cause: unknown): string => {
  if (cause instanceof Error) return `: ${cause.message}`
  return ""
}

const failureMessage = (error: unknown, hubUrl: string): { readonly status?: number; readonly message: string } => {
  if (error instanceof HubApiError) {
    const hint = statusHints[error.statusCode]
    return { status: error.statusCode, message: `HTTP ${error.statusCode}${hint === undefined ? "" : ` (${hint})`}: ${error.message}` }
  }
  if (!(error instanceof Error)) return { message: messageOf(error) }
  // fetch reports a refused connection or a DNS failure as "fetch failed" with the reason as its cause.
  const cause = causeText(error.cause)
  return { message: error.message === "fetch failed" ? `cannot reach ${hubUrl}${cause}` : `${error.message}${cause}` }
}

const environmentToken = Config.Redacted("HF_TOKEN").pipe(Config.option)
const environmentHubUrl = Config.String("HF_ENDPOINT").pipe(Config.option)

/**
 * A {@link HubClient} for the repo of `location`, with `hubUrl` and `token` from the
 * options or else from `HF_ENDPOINT` and `HF_TOKEN` (@huggingface/hub reads neither).
 */
export const makeHubClient = Effect.fn("HubClient.make")(function*(
  location: Pick<HubLocation, "repo" | "repoType">,
  options: HubAccessOptions = {}
): Effect.fn.Return<HubClient, HubRequestError> {
  const uri = formatHubUri({ ...location, path: "" })
  const fromEnvironment = Effect.mapError(
    (error: Config.ConfigError) => new HubRequestError({ operation: "configure", uri, message: `cannot read the environment: ${error.message}`, cause: error })
  )
  const token = options.token ?? Option.getOrUndefined(yield* fromEnvironment(environmentToken))
  const hubUrl = (options.hubUrl ?? Option.getOrElse(yield* fromEnvironment(environmentHubUrl), () => defaultHubUrl))
    .replace(/\/+$/, "")
  // The client library throws on this too, but only once a request is made.
  if (token !== undefined && !Redacted.value(token).startsWith("hf_")) {
    return yield* new HubRequestError({ operation: "configure", uri, message: "a Hugging Face token starts with 'hf_'; check HF_TOKEN or the token option" })
  }
  const secret = token === undefined ? undefined : Redacted.value(token)
  const target: HubTarget = {
    repo: { type: location.repoType, name: location.repo },
    hubUrl,
    ...(secret === undefined ? {} : { accessToken: secret })
  }
  // Belt and braces: a Hub error body or a proxy might echo the Authorization header.
  const scrub = (message: string): string => secret === undefined ? message : message.replaceAll(secret, "[redacted]")

  const toError = (operation: string, error: unknown): HubRequestError => {
    const failure = failureMessage(error, hubUrl)
    return new HubRequestError({
      operation,
      uri,
      ...(failure.status === undefined ? {} : { status: failure.status }),
      message: scrub(`${operation} on ${uri} failed: ${failure.message}`),
      cause: maskedCause(error, scrub)
    })
  }

  return {
    uri,
    toError,
    call: (operation, run) => Effect.tryPromise({ try: () => run(target), catch: (error) => toError(operation, error) })
  }
})
