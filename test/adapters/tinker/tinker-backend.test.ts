import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Scope } from "effect"
import { makeTinkerBackend, tinkerBackendLayer } from "../../../src/adapters/tinker/index.js"
import { type AdamParams, type ForwardBackwardOutput, fromInts, type TrainingClient, TrainingBackend } from "../../../src/ports/index.js"
import { architecture, awaitResult, byteDatums, connect, requestsTo, serveLocal, testApiKey } from "./served-backend.js"

const adam: AdamParams = { learning_rate: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0, grad_clip_norm: 0 }

describe("tinkerBackendLayer", () => {
  it.effect("needs an API key, and names the variable without showing any key", () =>
    Effect.gen(function*() {
      const missing = yield* Effect.flip(Layer.build(tinkerBackendLayer({ env: {} })))
      assert.strictEqual(missing._tag, "BackendUnavailableError")
      assert.include(missing.message, "TINKER_API_KEY")
      const named = yield* Effect.flip(makeTinkerBackend({ env: { OTHER: "tml-x" }, apiKeyEnv: "SOUS_TINKER_KEY" }))
      assert.include(named.message, "SOUS_TINKER_KEY")
      assert.notInclude(named.message, "tml-x")
    }))

  it.live("refuses a wrong key with a message that names the header and variable, never the key", () =>
    Effect.gen(function*() {
      const { server } = yield* serveLocal()
      const wrong = "tml-wrong-key-do-not-print"
      const error = yield* Effect.flip(
        makeTinkerBackend({ env: { TINKER_API_KEY: wrong, TINKER_BASE_URL: server.url } })
      )
      assert.strictEqual(error._tag, "BackendUnavailableError")
      assert.include(error.message, "X-API-Key")
      assert.include(error.message, "TINKER_API_KEY")
      assert.include(error.message, "401")
      assert.notInclude(error.message, wrong)
      assert.notInclude(error.message, testApiKey)
      // The request's own error is kept as the cause, for --verbose, and it holds no key either.
      assert.strictEqual((error.cause as { _tag?: string } | undefined)?._tag, "TinkerRequestError")
      assert.notInclude(Cause.pretty(Cause.fail(error)), wrong)
    }))

  it.live("opens a session, reports the server's capabilities and keeps the session alive", () =>
    Effect.gen(function*() {
      const { server, log, local } = yield* serveLocal()
      const backend = yield* connect(server, { heartbeatIntervalMs: 20 })
      const capabilities = yield* backend.capabilities
      const localCapabilities = yield* local.capabilities
      assert.strictEqual(capabilities.backend, "tinker")
      assert.strictEqual(capabilities.device, localCapabilities.device)
      assert.deepStrictEqual(capabilities.losses, localCapabilities.losses)
      assert.strictEqual(capabilities.maxLoraRank, localCapabilities.maxLoraRank)
      assert.isTrue(capabilities.durableCheckpoints)
      assert.strictEqual(requestsTo(log, "/client/config").length, 1)
      assert.strictEqual(requestsTo(log, "/create_session").length, 1)
      // Beats every 20 ms; waited for rather than counted after a fixed sleep, which a busy
      // machine can stretch past a few beats' time.
      const deadline = Date.now() + 10_000
      while (requestsTo(log, "/session_heartbeat").length < 3 && Date.now() < deadline) yield* Effect.sleep(20)
      const beats = requestsTo(log, "/session_heartbeat")
      assert.isAtLeast(beats.length, 3)
      assert.isTrue(beats.every((entry) => entry.status === 200))
    }))

  it.live("provides a TrainingBackend as a layer", () =>
    Effect.gen(function*() {
      const { server } = yield* serveLocal()
      const layer = tinkerBackendLayer({ baseUrl: server.url, env: { TINKER_API_KEY: testApiKey } })
      const info = yield* Effect.gen(function*() {
        const backend = yield* TrainingBackend
        const client = yield* backend.createTrainingClient({ baseModel: "bytes", architecture, seed: 2 })
        return yield* client.info
      }).pipe(Effect.provide(layer))
      assert.match(info.modelId, /:train:0$/)
      assert.isAbove(info.parameterCount, 0)
    }))

  it.live("ends requests when its scope closes, and refuses new ones instead of hanging", () =>
    Effect.gen(function*() {
      const { server } = yield* serveLocal()
      const scope = yield* Scope.make()
      const client = yield* Effect.flatMap(connect(server), (backend) =>
        backend.createTrainingClient({ baseModel: "bytes", architecture, seed: 1 })).pipe(Scope.provide(scope))
      const pending = yield* client.forwardBackward(byteDatums(["abc"]), "cross_entropy")
      yield* Scope.close(scope, Exit.void)
      assert.isTrue(Exit.hasInterrupts(yield* Effect.exit(pending.result)))
      const late = yield* Effect.flip(awaitResult(client.forwardBackward(byteDatums(["abc"]), "cross_entropy")))
      assert.strictEqual(late._tag, "TrainingError")
      assert.include(late.message, "closed")
    }))

  it.live("applies every step exactly once through injected faults, with the fault-free losses", () =>
    Effect.gen(function*() {
      const steps = 8
      const batch = byteDatums(["faults do", "not change", "the result"])
      const config = { baseModel: "bytes", architecture, seed: 9 }
      const train = (client: TrainingClient["Service"]) =>
        Effect.gen(function*() {
          const pending = []
          for (let step = 0; step < steps; step++) {
            pending.push({ loss: yield* client.forwardBackward(batch, "cross_entropy"), step: yield* client.optimStep(adam) })
          }
          const losses: Array<ForwardBackwardOutput> = []
          const metrics: Array<Readonly<Record<string, number>>> = []
          for (const { loss, step } of pending) {
            losses.push(yield* loss.result)
            metrics.push((yield* step.result).metrics)
          }
          return { losses, metrics }
        })

      const calm = yield* serveLocal()
      const expected = yield* train(yield* calm.local.createTrainingClient(config))

      const stormy = yield* serveLocal({
        faults: { rate5xx: 0.1, rate429: 0.05, rate408: 0.05, rate410: 0.05, rateDrop: 0.05, seed: 4 },
        futureTtlMs: 60_000
      })
      const backend = yield* connect(stormy.server)
      const client = yield* backend.createTrainingClient(config)
      const got = yield* train(client)

      const modelId = (yield* client.info).modelId
      assert.strictEqual(stormy.server.stats().optimizerStepsByModel[modelId], steps)
      const faults = stormy.server.stats().faultsByKind
      assert.isAbove(faults["503"], 0)
      // The server keeps a training result until it is retrieved, so it never answers a training
      // future's poll 410 (its 410 draws go out as 408s); the 400-request test below meets 410s.
      assert.strictEqual(faults["410"], 0)
      assert.isAbove(faults["408"], 0)
      assert.isAbove(faults.drop, 0)
      got.losses.forEach((loss, i) => {
        const want = expected.losses[i]!.metrics["loss:sum"]!
        assert.closeTo(loss.metrics["loss:sum"]!, want, 1e-6 * Math.abs(want), `step ${i}`)
      })
      got.metrics.forEach((metrics, i) =>
        assert.closeTo(metrics["grad_norm:mean"]!, expected.metrics[i]!["grad_norm:mean"]!, 1e-6, `grad norm ${i}`)
      )
      // The retries show in the steps' metrics.
      assert.isAbove(got.metrics.reduce((total, metrics) => total + metrics["remote_retries"]!, 0), 0)
    }))

  // Hundreds of requests in flight (a DPO reference scores its whole dataset this way) meet runs
  // of expired results somewhere: a request must be resubmitted for as long as the retry budget
  // lasts, not a fixed number of times (with three resubmissions, seed 5 failed request 379).
  it.live("completes 400 requests in flight while half of all requests fail", () =>
    Effect.gen(function*() {
      const prompts = Array.from({ length: 400 }, (_, i) => fromInts([1, 2, 3, (i % 10) + 1]))
      const source = { baseModel: "bytes", architecture, seed: 0 }
      const calm = yield* serveLocal()
      const local = yield* calm.local.createSamplingClient(source)
      const expected = yield* Effect.forEach(prompts.slice(0, 10), (prompt) => awaitResult(local.computeLogprobs(prompt)))

      const stormy = yield* serveLocal({ faults: { rate5xx: 0.1, rate429: 0.1, rate408: 0.1, rate410: 0.1, rateDrop: 0.1, seed: 5 } })
      const sampler = yield* (yield* connect(stormy.server)).createSamplingClient(source)
      const pending = []
      for (const prompt of prompts) pending.push(yield* sampler.computeLogprobs(prompt))
      const got = yield* Effect.forEach(pending, (request) => request.result)
      got.forEach((logprobs, i) => assert.deepStrictEqual(logprobs, expected[i % 10], `request ${i}`))
      assert.isAbove(stormy.server.stats().faultsByKind["410"], 40)
      // The batched call: one request a prompt, answered in order.
      const batch = yield* (yield* sampler.computeLogprobsBatch(prompts.slice(0, 40))).result
      batch.forEach((logprobs, i) => assert.deepStrictEqual(logprobs, expected[i % 10], `batched prompt ${i}`))
    }))
})
