import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { Effect, type Scope } from "effect"

/** A request the scripted server received. */
export interface SeenRequest {
  readonly method: string
  /** The path under `/api/v1` (`/retrieve_future`, ...). */
  readonly endpoint: string
  readonly headers: http.IncomingHttpHeaders
  readonly body: Buffer
  /** The body as JSON, or undefined when it is not JSON. */
  readonly json: unknown
}

/** A scripted reply: a status with a JSON (or raw) body and headers, or a dropped connection. */
export type ScriptedReply =
  | {
    readonly status: number
    readonly json?: unknown
    readonly body?: Uint8Array
    readonly headers?: Readonly<Record<string, string>>
  }
  | "drop"

/** A running scripted server. */
export interface ScriptedServer {
  readonly url: string
  /** Every request so far, in arrival order. */
  readonly requests: ReadonlyArray<SeenRequest>
}

const parseJson = (body: Buffer): unknown => {
  try {
    return JSON.parse(body.toString("utf8"))
  } catch {
    return undefined
  }
}

/**
 * A stand-in Tinker service that answers each request with whatever `reply` returns, for
 * replies a real server cannot be made to give on demand (a 402, a bare 400, a
 * `retry-after`). Closed with the scope.
 */
export const startScriptedServer = (
  reply: (request: SeenRequest, index: number) => ScriptedReply
): Effect.Effect<ScriptedServer, never, Scope.Scope> => {
  const requests: Array<SeenRequest> = []
  return Effect.acquireRelease(
    Effect.callback<http.Server>((resume) => {
      const server = http.createServer((request, response) => {
        const chunks: Array<Buffer> = []
        request.on("data", (chunk: Buffer) => chunks.push(chunk))
        request.on("end", () => {
          const body = Buffer.concat(chunks)
          const seen: SeenRequest = {
            method: request.method ?? "GET",
            endpoint: (request.url ?? "").replace(/^\/api\/v1/, ""),
            headers: request.headers,
            body,
            json: parseJson(body)
          }
          requests.push(seen)
          const answer = reply(seen, requests.length - 1)
          if (answer === "drop") return void request.socket.destroy()
          const payload = answer.body ?? Buffer.from(JSON.stringify(answer.json ?? {}))
          response.writeHead(answer.status, {
            "content-type": answer.body === undefined ? "application/json" : "application/octet-stream",
            ...answer.headers
          })
          response.end(payload)
        })
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.callback<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map((server) => ({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests })))
}
