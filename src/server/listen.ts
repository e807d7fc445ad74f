import type * as http from "node:http"
import type { AddressInfo } from "node:net"
import { Effect, Scope } from "effect"

/** Where a server listens once {@link listen} has bound it. */
export interface Listening {
  /** `http://<host>:<port>`, an IPv6 host in brackets. */
  readonly url: string
  readonly port: number
}

/**
 * Binds `server` to `host:port` (0 for any free port) and stops it when `scope` closes:
 * no new requests, open connections (long polls, streams) cut. Call it after everything
 * else the server's scope holds, so its finalizer runs first. A bind that fails (port taken,
 * bad host) fails with `refused(message, cause)`.
 */
export const listen = <E>(
  server: http.Server,
  host: string,
  port: number,
  scope: Scope.Scope,
  refused: (message: string, cause: Error) => E
): Effect.Effect<Listening, E> =>
  Effect.gen(function*() {
    // Longer than clients keep idle connections, so a client never reuses one the server just
    // closed; the headers timeout must exceed it, or an idle kept-alive connection is cut early.
    server.keepAliveTimeout = 65_000
    server.headersTimeout = 66_000
    yield* Effect.callback<void, E>((resume) => {
      const onError = (error: Error) => resume(Effect.fail(refused(`cannot listen on ${host}:${port}: ${error.message}`, error)))
      server.once("error", onError)
      server.listen(port, host, () => {
        server.off("error", onError)
        resume(Effect.void)
      })
    })
    yield* Scope.addFinalizer(
      scope,
      Effect.callback<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      })
    )
    const bound = (server.address() as AddressInfo).port
    return { url: `http://${host.includes(":") ? `[${host}]` : host}:${bound}`, port: bound }
  })
