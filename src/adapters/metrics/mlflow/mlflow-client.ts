import { Data, Effect, Redacted, Schedule } from "effect"
import { MetricsError } from "../../../ports/index.js"
import { messageOf } from "../../../ports/thrown-message.js"

/** Where an MLflow tracking server is and how to talk to it. */
export interface MlflowClientOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:5000`; its REST API is under `/api/2.0/mlflow`. */
  readonly uri: string
  /** Sent as `Authorization: Bearer <token>` when set; never logged. */
  readonly token?: Redacted.Redacted<string> | undefined
  /** How long one request may take. Default 10 s. */
  readonly timeoutMs?: number | undefined
  /** Tries after the first for a failure that may pass (no connection, 429, 5xx). Default 2. */
  readonly retries?: number | undefined
}

/** A reply to a request: its JSON, or MLflow's error (`error_code` and `message`). */
export type MlflowReply =
  | { readonly ok: true; readonly body: unknown }
  | { readonly ok: false; readonly status: number; readonly errorCode: string; readonly message: string }

/** One MLflow REST call; `endpoint` is the path after `/api/2.0/mlflow/`. */
export interface MlflowClient {
  readonly call: (method: "GET" | "POST", endpoint: string, payload: Readonly<Record<string, unknown>>) => Effect.Effect<MlflowReply, MetricsError>
}

// A try that may pass if made again; its message follows the tracker's name.
class Transient extends Data.TaggedError("Transient")<{ readonly message: string; readonly cause?: unknown }> {}

// Server messages are quoted, not pasted: a long one would drown the warning.
const quote = (text: string): string => text.length > 300 ? `${text.slice(0, 300)}…` : text

// Node's fetch rejects with `TypeError("fetch failed")` and the socket's error as its cause.
const networkCode = (error: unknown): string => {
  const cause = error instanceof Error ? error.cause : undefined
  const code = typeof cause === "object" && cause !== null && "code" in cause ? cause.code : undefined
  return typeof code === "string" ? code : messageOf(cause ?? error)
}

const parseReply = (status: number, text: string): MlflowReply => {
  let body: unknown
  try {
    body = text === "" ? {} : JSON.parse(text)
  } catch {
    body = undefined
  }
  if (status >= 200 && status < 300) return { ok: true, body: body ?? {} }
  const fields = typeof body === "object" && body !== null ? body as Record<string, unknown> : {}
  return {
    ok: false,
    status,
    errorCode: typeof fields["error_code"] === "string" ? fields["error_code"] : `HTTP ${status}`,
    message: typeof fields["message"] === "string" ? fields["message"] : quote(text)
  }
}

/**
 * A client of MLflow's REST API 2.0 over Node's fetch. A request that gets no answer, or a
 * 429 or 5xx, is tried again (`retries` times, after 250 ms, then twice as long each time);
 * what still fails is a `MetricsError` whose message reads after the tracker's name
 * (`is unreachable (ECONNREFUSED)`, `answered 503 ... to POST runs/log-batch`). A 4xx other
 * than 429 is the caller's to read. The token is scrubbed from every message.
 */
export const makeMlflowClient = (options: MlflowClientOptions): MlflowClient => {
  const base = `${options.uri.replace(/\/+$/, "")}/api/2.0/mlflow/`
  const timeoutMs = options.timeoutMs ?? 10_000
  const token = options.token === undefined ? undefined : Redacted.value(options.token)
  const scrub = (message: string): string => token === undefined || token === "" ? message : message.replaceAll(token, "[redacted]")
  const headers: Record<string, string> = {
    "Content-Type": "application/json",
    ...(token === undefined ? {} : { Authorization: `Bearer ${token}` })
  }

  const attempt = (method: "GET" | "POST", endpoint: string, payload: Readonly<Record<string, unknown>>) =>
    Effect.tryPromise({
      try: async (signal) => {
        const query = method === "GET" ? `?${new URLSearchParams(payload as Record<string, string>)}` : ""
        const response = await fetch(`${base}${endpoint}${query}`, {
          method,
          headers,
          ...(method === "POST" ? { body: JSON.stringify(payload) } : {}),
          signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)])
        })
        return parseReply(response.status, await response.text())
      },
      catch: (error) =>
        new Transient({
          message: error instanceof Error && error.name === "TimeoutError"
            ? `did not answer ${method} ${endpoint} within ${timeoutMs / 1000} s`
            : `is unreachable (${networkCode(error)})`,
          cause: error
        })
    }).pipe(
      Effect.flatMap((reply) =>
        !reply.ok && (reply.status === 429 || reply.status >= 500)
          ? Effect.fail(new Transient({ message: `answered ${reply.status} ${reply.errorCode} to ${method} ${endpoint}: ${quote(reply.message)}` }))
          : Effect.succeed(reply)
      )
    )

  return {
    call: (method, endpoint, payload) =>
      attempt(method, endpoint, payload).pipe(
        Effect.retry({ schedule: Schedule.exponential("250 millis"), times: options.retries ?? 2 }),
        Effect.map((reply): MlflowReply => reply.ok ? reply : { ...reply, message: scrub(reply.message) }),
        Effect.mapError((failure) => new MetricsError({ message: scrub(failure.message), cause: failure.cause }))
      )
  }
}

/** The error of a reply MLflow refused: the call and MLflow's error code and message. */
export const refusal = (reply: Extract<MlflowReply, { readonly ok: false }>, method: string, endpoint: string): MetricsError =>
  new MetricsError({ message: `answered ${reply.status} ${reply.errorCode} to ${method} ${endpoint}: ${quote(reply.message)}` })

/** The body of a successful reply, or the {@link refusal} of another. */
export const expectOk = (reply: MlflowReply, method: string, endpoint: string): Effect.Effect<unknown, MetricsError> =>
  reply.ok ? Effect.succeed(reply.body) : Effect.fail(refusal(reply, method, endpoint))
