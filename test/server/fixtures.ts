import { Effect, Layer, type Scope } from "effect"
import { localBackendLayer } from "../../src/adapters/local/local-backend.js"
import { encodeForwardBackwardRequest } from "../../src/protocol/proto-messages.js"
import {
  type BackendUnavailableError,
  type Datum,
  float32,
  fromInts,
  int64,
  type TrainingBackend,
  type TransformerArchitecture
} from "../../src/ports/index.js"
import { type RunningServer, type ServeError, type ServerOptions, startServer } from "../../src/server/index.js"

/** The key every test server takes. */
export const apiKey = "sous-test-key-5f2c9a"

/** A model small enough to train in milliseconds (ids below 16). */
export const tinyArchitecture: TransformerArchitecture = {
  kind: "transformer",
  vocabSize: 16,
  contextLength: 8,
  width: 16,
  layers: 1,
  heads: 2
}

/** The local backend on wasm, as every server test runs it. */
export const backendLayer: Layer.Layer<TrainingBackend, BackendUnavailableError> = localBackendLayer({ device: "wasm" })

/** A server over the test backend (provide {@link backendLayer}), closed with the scope. */
export const testServer = (
  options: Partial<ServerOptions> = {}
): Effect.Effect<RunningServer, ServeError, TrainingBackend | Scope.Scope> => startServer({ apiKey, ...options })

/** A server that takes `keys` alone (not the test key), over the test backend. */
export const keyedServer = (
  keys: NonNullable<ServerOptions["keys"]>,
  options: Omit<Partial<ServerOptions>, "apiKey" | "keys"> = {}
): Effect.Effect<RunningServer, ServeError, TrainingBackend | Scope.Scope> => startServer({ keys, ...options })

/** The datum that trains `tokens[1:]` on `tokens[:-1]`. */
export const sequenceDatum = (tokens: ReadonlyArray<number>): Datum => ({
  model_input: fromInts(tokens.slice(0, -1)),
  loss_fn_inputs: {
    target_tokens: int64(tokens.slice(1)),
    weights: float32(tokens.slice(1).map(() => 1))
  }
})

/** A fixed batch for the tiny model. */
export const batch: ReadonlyArray<Datum> = [sequenceDatum([1, 2, 3, 4, 5, 6]), sequenceDatum([7, 3, 9, 2, 11])]

/** An HTTP answer with its body read. */
export interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly bytes: Uint8Array
  readonly text: string
  /** The body as JSON, or undefined if it is not JSON. */
  readonly json: any
}

const read = async (response: Response): Promise<Answer> => {
  const bytes = new Uint8Array(await response.arrayBuffer())
  const text = new TextDecoder().decode(bytes)
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: response.status, headers: response.headers, bytes, text, json }
}

/** Sends a request to `/api/v1<path>` with the test key (unless headers replace it). */
export const request = (
  server: RunningServer,
  path: string,
  init: { readonly method?: string; readonly headers?: Record<string, string>; readonly body?: Uint8Array | string } = {}
): Effect.Effect<Answer> =>
  Effect.promise(async () =>
    read(
      await fetch(`${server.url}/api/v1${path}`, {
        method: init.method ?? "POST",
        headers: { "x-api-key": apiKey, ...init.headers },
        ...(init.body === undefined ? {} : { body: init.body })
      })
    )
  )

/** POSTs JSON. */
export const postJson = (server: RunningServer, path: string, body: unknown, headers: Record<string, string> = {}) =>
  request(server, path, { headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) })

/** POSTs a protobuf forward/backward request. */
export const postForwardBackward = (
  server: RunningServer,
  message: { readonly model_id: string; readonly seq_id: number; readonly data?: ReadonlyArray<Datum>; readonly forward_only?: boolean },
  headers: Record<string, string> = {}
) =>
  request(server, "/forward_backward", {
    headers: { "content-type": "application/x-protobuf", ...headers },
    body: encodeForwardBackwardRequest({
      model_id: message.model_id,
      seq_id: message.seq_id,
      data: message.data ?? batch,
      loss_fn: "cross_entropy",
      loss_fn_config: {},
      forward_only: message.forward_only ?? false
    })
  })

/** Polls a future until it is no longer `try_again`; answers the final answer. */
export const awaitFuture = (server: RunningServer, requestId: string, headers: Record<string, string> = {}) =>
  Effect.gen(function*() {
    while (true) {
      const answer = yield* postJson(server, "/retrieve_future", { request_id: requestId }, headers)
      if (!(answer.status === 200 && answer.json?.type === "try_again")) return answer
    }
  })

/** The headers that send `key` instead of the test key. */
export const asKey = (key: string): Record<string, string> => ({ "x-api-key": key })

/** A new client session's id (of the test key, unless `headers` send another). */
export const createSession = (server: RunningServer, headers: Record<string, string> = {}) =>
  Effect.map(
    postJson(server, "/create_session", { tags: [], sdk_version: "test", type: "create_session" }, headers),
    (answer) => answer.json.session_id as string
  )

/** Creates a training model of the tiny architecture and waits until it exists; answers its id. */
export const createModel = (server: RunningServer, sessionId: string, modelSeqId = 0, seed = 7, headers: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const submitted = yield* postJson(server, "/create_model", {
      session_id: sessionId,
      model_seq_id: modelSeqId,
      base_model: "tiny",
      user_metadata: { sous: { architecture: tinyArchitecture, seed } },
      type: "create_model"
    }, headers)
    if (submitted.status !== 200) throw new Error(`create_model was refused: ${submitted.status} ${submitted.text}`)
    const done = yield* awaitFuture(server, submitted.json.request_id, headers)
    if (done.status !== 200 || typeof done.json?.model_id !== "string") throw new Error(`create_model failed: ${done.text}`)
    return done.json.model_id as string
  })

/** A session and a model in it. */
export const sessionAndModel = (server: RunningServer, seed = 7) =>
  Effect.gen(function*() {
    const sessionId = yield* createSession(server)
    return { sessionId, modelId: yield* createModel(server, sessionId, 0, seed) }
  })

/** The protocol's default Adam settings with a learning rate. */
export const adam = (learningRate = 0.01) => ({
  learning_rate: learningRate,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-12,
  weight_decay: 0,
  grad_clip_norm: 0
})

/** Waits until `done` holds, for what the server does on its own fibers. */
export const until = (done: () => boolean): Effect.Effect<void> =>
  Effect.suspend(() => (done() ? Effect.void : Effect.andThen(Effect.sleep(5), until(done))))

/** Runs a test body with a fresh backend (each test gets its own tensors). */
export const withBackend = <A, E>(effect: Effect.Effect<A, E, TrainingBackend | Scope.Scope>) =>
  Effect.scoped(effect).pipe(Effect.provide(backendLayer))
