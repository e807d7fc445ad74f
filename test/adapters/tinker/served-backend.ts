import { Effect, type Scope } from "effect"
import { makeLocalBackend } from "../../../src/adapters/local/local-backend.js"
import { makeTinkerBackend } from "../../../src/adapters/tinker/tinker-backend.js"
import type { TinkerBackendOptions } from "../../../src/adapters/tinker/tinker-options.js"
import {
  type Datum,
  float32,
  fromInts,
  int64,
  type Pending,
  TrainingBackend
} from "../../../src/ports/index.js"
import { type RequestLogEntry, type RunningServer, type ServerOptions, startServer } from "../../../src/server/index.js"
import { byteTransformer } from "../../support/byte-transformer.js"

/** The key the test servers take. */
export const testApiKey = "tml-test-key-0123456789"

/** The model every test here trains: one tiny transformer over bytes. */
export const architecture = byteTransformer(16)

/** A `sous serve` server over a local (wasm) backend, that backend itself, and the server's request log. */
export interface Served {
  readonly server: RunningServer
  readonly local: TrainingBackend["Service"]
  readonly log: ReadonlyArray<RequestLogEntry>
}

/**
 * Starts a local backend and a server over it. The same backend serves the in-process
 * comparison, so both sides run the very same code on the very same device.
 */
export const serveLocal = (options: Partial<ServerOptions> = {}): Effect.Effect<Served, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const local = yield* makeLocalBackend({ device: "wasm" })
    const log: Array<RequestLogEntry> = []
    const server = yield* startServer({ apiKey: testApiKey, log: (entry) => log.push(entry), ...options }).pipe(
      Effect.provideService(TrainingBackend, local)
    )
    return { server, local, log }
  })

/** A tinker backend connected to `server`, with retry timings short enough for tests. */
export const connect = (server: RunningServer, options: TinkerBackendOptions = {}) =>
  makeTinkerBackend({
    baseUrl: server.url,
    apiKey: testApiKey,
    retry: { initialBackoffMs: 2, maxBackoffMs: 20, giveUpAfterMs: 30_000 },
    ...options
  })

/** Next-token datums over byte sequences: targets are the inputs shifted by one, every weight 1. */
export const byteDatums = (texts: ReadonlyArray<string>): ReadonlyArray<Datum> =>
  texts.map((text) => {
    const tokens = [...new TextEncoder().encode(text)]
    return {
      model_input: fromInts(tokens.slice(0, -1)),
      loss_fn_inputs: {
        target_tokens: int64(tokens.slice(1)),
        weights: float32(tokens.slice(1).map(() => 1))
      }
    }
  })

/** Submits and waits. */
export const awaitResult = <A, E>(submit: Effect.Effect<Pending<A, E>, E>): Effect.Effect<A, E> =>
  Effect.flatMap(submit, (pending) => pending.result)

/** Requests the server answered on `path` (under `/api/v1`). */
export const requestsTo = (log: ReadonlyArray<RequestLogEntry>, path: string): ReadonlyArray<RequestLogEntry> =>
  log.filter((entry) => entry.path === `/api/v1${path}`)
