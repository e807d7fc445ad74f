import { Effect, Exit, Layer, Scope } from "effect"
import { localBackendLayer } from "../../src/adapters/local/local-backend.js"
import { type RunningServer, type ServerOptions, startServer } from "../../src/server/index.js"

/** A `sous serve` server running in this process, for tests that drive it from child processes. */
export interface LoopbackServer extends RunningServer {
  /** The key it takes; pass it to clients as `TINKER_API_KEY`. */
  readonly apiKey: string
  /** Stops the server and frees its backend. */
  readonly stop: () => Promise<void>
}

/**
 * Starts `sous serve`'s server over the local backend on wasm, on a free loopback port, as
 * `sous serve` would (its `startServer`, not a stand-in). Unlike an `it.effect` fixture it
 * outlives one test: `beforeAll` starts it, `afterAll` stops it.
 */
export const startLoopbackServer = async (options: Partial<ServerOptions> = {}): Promise<LoopbackServer> => {
  const apiKey = `sous-test-${Math.random().toString(36).slice(2)}`
  const scope = Effect.runSync(Scope.make())
  const server = await Effect.runPromise(
    Effect.gen(function*() {
      const backend = yield* Layer.buildWithScope(localBackendLayer({ device: "wasm" }), scope)
      return yield* startServer({ apiKey, ...options }).pipe(Effect.provideContext(backend), Scope.provide(scope))
    })
  )
  return { ...server, apiKey, stop: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}
