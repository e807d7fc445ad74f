import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type { RequestLogEntry } from "../../src/server/index.js"
import {
  adam,
  apiKey,
  awaitFuture,
  createSession,
  postJson,
  request,
  sessionAndModel,
  testServer,
  tinyArchitecture,
  until,
  withBackend
} from "./fixtures.js"

describe("sous serve: sessions and server information", () => {
  it.live("tells the client its feature flags, holds sessions alive by heartbeat, and describes its models", () =>
    withBackend(Effect.gen(function*() {
      const server = yield* testServer({ maxBodyBytes: 4_000_000, baseModels: { "byte-tiny": tinyArchitecture } })
      const config = yield* postJson(server, "/client/config", { sdk_version: "0.25.0" })
      assert.deepStrictEqual(config.json, {
        pjwt_auth_enabled: false,
        credential_default_source: "api_key",
        proto_compress_fwdbwd: true,
        parallel_fwdbwd_chunks: true,
        fwdbwd_max_chunk_len: 1024,
        // Half the body limit, so a chunk and its framing always fit.
        fwdbwd_max_chunk_bytes_count: 2_000_000,
        sample_max_concurrent_requests: 2000,
        create_model_via_load_weights: false,
        use_pyqwest_transport: false
      })
      assert.deepStrictEqual((yield* postJson(server, "/client/dynamic_config", { sdk_version: "0.25.0" })).json, { refresh_interval_sec: 300 })
      assert.deepStrictEqual((yield* postJson(server, "/telemetry", { events: [] })).json, { status: "accepted" })

      const capabilities = yield* request(server, "/get_server_capabilities", { method: "GET" })
      assert.deepStrictEqual(capabilities.json, {
        supported_models: [{ model_name: "byte-tiny", max_context_length: 8 }],
        sous: {
          backend: "local",
          device: "wasm (SIMD, 1 thread)",
          losses: ["cross_entropy", "importance_sampling", "ppo", "cispo", "dro"],
          max_lora_rank: 128
        }
      })

      const sessionId = yield* createSession(server)
      // The server run's marker, then a UUID.
      assert.match(sessionId, /^[0-9a-f]{12}-[0-9a-f-]{36}$/)
      assert.deepStrictEqual((yield* postJson(server, "/session_heartbeat", { session_id: sessionId })).json, { type: "session_heartbeat" })
      const stranger = yield* postJson(server, "/session_heartbeat", { session_id: "stranger", type: "session_heartbeat" })
      assert.strictEqual(stranger.status, 404)
      assert.deepStrictEqual(stranger.json, { error: "unknown session_id \"stranger\"" })

      // A named base model needs no sous metadata: the SDK sends only its name and LoRA settings.
      const created = yield* postJson(server, "/create_model", {
        session_id: sessionId,
        model_seq_id: 0,
        base_model: "byte-tiny",
        lora_config: { rank: 4, seed: null, train_mlp: true, train_attn: true, train_unembed: false }
      })
      const modelId = (yield* awaitFuture(server, created.json.request_id)).json.model_id
      const info = yield* postJson(server, "/get_info", { model_id: modelId, type: "get_info" })
      assert.strictEqual(info.json.sous.device, "wasm (SIMD, 1 thread)")
      assert.isAbove(info.json.sous.parameter_count, 0)
      assert.deepStrictEqual({ ...info.json, sous: undefined }, {
        type: "get_info",
        model_id: modelId,
        model_data: { model_name: "byte-tiny", arch: "transformer" },
        is_lora: true,
        lora_rank: 4,
        model_name: "byte-tiny",
        sous: undefined
      })

      const unloaded = yield* postJson(server, "/unload_model", { model_id: modelId })
      assert.deepStrictEqual((yield* awaitFuture(server, unloaded.json.request_id)).json, { model_id: modelId, type: "unload_model" })
      assert.strictEqual((yield* postJson(server, "/get_info", { model_id: modelId })).status, 404)
    })))

  it.live("logs each request's method, path, status and time, never the key, and stops listening on close", () =>
    withBackend(Effect.gen(function*() {
      const entries: Array<RequestLogEntry> = []
      const server = yield* testServer({ log: (entry) => entries.push(entry) })
      const { modelId } = yield* sessionAndModel(server)
      const step = yield* postJson(server, "/optim_step", { model_id: modelId, seq_id: 1, adam_params: adam() })
      yield* awaitFuture(server, step.json.request_id)
      yield* request(server, "/healthz?token=secret", { method: "GET" })
      const lines = entries.map(({ method, path, status }) => `${method} ${path} ${status}`)
      // A future may take more than one poll: repeated lines are folded.
      assert.deepStrictEqual(lines.filter((line, i) => line !== lines[i - 1]), [
        "POST /api/v1/create_session 200",
        "POST /api/v1/create_model 200",
        "POST /api/v1/retrieve_future 200",
        "POST /api/v1/optim_step 200",
        "POST /api/v1/retrieve_future 200",
        "GET /api/v1/healthz 200"
      ])
      for (const entry of entries) assert.isAtLeast(entry.ms, 0)
      assert.notInclude(JSON.stringify(entries), apiKey)
      assert.notInclude(JSON.stringify(entries), "secret")

      // A long poll whose client hangs up is logged as 499, and the server carries on.
      const blocked = yield* postJson(server, "/optim_step", { model_id: modelId, seq_id: 3, adam_params: adam() })
      const controller = new AbortController()
      const poll = fetch(`${server.url}/api/v1/retrieve_future`, {
        method: "POST",
        headers: { "x-api-key": apiKey, "content-type": "application/json" },
        body: JSON.stringify({ request_id: blocked.json.request_id }),
        signal: controller.signal
      }).catch((error: Error) => error.name)
      yield* Effect.sleep(100)
      controller.abort()
      assert.strictEqual(yield* Effect.promise(() => poll), "AbortError")
      yield* until(() => entries.at(-1)?.status === 499)
      assert.deepStrictEqual(entries.slice(-1).map(({ path, status }) => `${path} ${status}`), ["/api/v1/retrieve_future 499"])

      yield* server.close
      const refused = yield* Effect.exit(request(server, "/healthz", { method: "GET" }))
      assert.strictEqual(refused._tag, "Failure")
    })))

  it.live("refuses to start with a bad option or a taken port, saying which", () =>
    withBackend(Effect.gen(function*() {
      const message = (options: Parameters<typeof testServer>[0]) =>
        Effect.map(Effect.flip(testServer(options)), (error) => `${error._tag}: ${error.message}`)
      assert.strictEqual(yield* message({ apiKey: "" }), "ServeError: apiKey must not be empty: every request is checked against it")
      assert.strictEqual(yield* message({ pollWaitMs: 0 }), "ServeError: pollWaitMs must be a positive number, got 0")
      assert.strictEqual(yield* message({ samplerLimit: 1.5 }), "ServeError: samplerLimit must be an integer, got 1.5")
      assert.strictEqual(yield* message({ faults: { rate5xx: 0.6, rateDrop: 0.6 } }), "ServeError: the fault rates add up to 1.2, more than 1")
      const first = yield* testServer()
      assert.match(yield* message({ port: first.port }), /^ServeError: cannot listen on 127\.0\.0\.1:\d+: listen EADDRINUSE/)
    })))
})
