import { Cause, Duration, Effect, type LogLevel, References } from "effect"
import { HttpClient, type HttpClientError } from "effect/http"

/** `text` with the user and password of every URL in it left out. */
export const withoutUserinfo = (text: string): string => text.replace(/\b(https?:\/\/)[^@/\s]*@/g, "$1")

// What a failed fetch was caused by, deepest first: `fetch failed` says nothing, the socket
// error under it (`connect ECONNREFUSED 127.0.0.1:4318`) says what happened.
const rootMessage = (error: unknown): string => {
  let current = error
  while (current instanceof Error) {
    const inner: unknown = current instanceof AggregateError && current.errors.length > 0 ? current.errors[0] : current.cause
    if (!(inner instanceof Error)) return current.message
    current = inner
  }
  return String(current)
}

// A collector that takes the connection and never answers holds an exporter's batch (and
// the end of the run) until this passes; the request then fails like a refused one.
const requestTimeout = Duration.seconds(10)

/**
 * Why an export request failed, as the rest of a sentence that starts with the tracker's
 * label: `is unreachable (connect ECONNREFUSED 127.0.0.1:4318)` or `answered HTTP 401 to
 * POST /v1/traces`. Built from the request line and status only, never from its headers,
 * and with any password a URL in it holds left out.
 */
export const describeExportFailure = (error: HttpClientError.HttpClientError): string => {
  const { reason } = error
  const path = new URL(reason.request.url).pathname
  switch (reason._tag) {
    case "TransportError":
      return Cause.isTimeoutError(reason.cause)
        ? `is unreachable (no answer to ${reason.request.method} ${path} within ${Duration.format(requestTimeout)})`
        : `is unreachable (${withoutUserinfo(rootMessage(reason.cause ?? reason.description))})`
    case "StatusCodeError":
      return `answered HTTP ${reason.response.status} to ${reason.request.method} ${path}`
    default:
      return `failed to take ${reason.request.method} ${path} (${reason._tag})`
  }
}

/**
 * The HTTP client the OTLP exporters send with: the one in context, with an answer other
 * than 2xx, or none within 10 seconds, counted as a failure, and the first failure of all
 * logged as one warning, `<label> <why>; the run goes on without it`, at `logLevel` (the
 * run's minimum log level: the exporters themselves run with their logs silenced, see
 * `otlpTelemetryLayer`). Later failures are not logged: the exporters retry and drop on
 * their own, and a run of hours must not print a line a minute for a collector that is gone.
 */
export const reportingHttpClient = (label: string, logLevel: LogLevel.LogLevel) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    // The exporter annotates its fiber's logs as `@effect/opentelemetry`'s: the warning is
    // sous's, with the annotations of where the layer was built.
    const annotations = yield* References.CurrentLogAnnotations
    let reported = false
    return client.pipe(
      HttpClient.timeout(requestTimeout),
      HttpClient.filterStatusOk,
      HttpClient.tapError((error) =>
        Effect.suspend(() => {
          if (reported) return Effect.void
          reported = true
          return Effect.logWarning(`${label} ${describeExportFailure(error)}; the run goes on without it`).pipe(
            Effect.provideService(References.MinimumLogLevel, logLevel),
            Effect.provideService(References.CurrentLogAnnotations, annotations)
          )
        })
      )
    )
  })
