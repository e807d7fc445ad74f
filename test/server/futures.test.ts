import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { decodeForwardBackwardOutput } from "../../src/protocol/proto-messages.js"
import { TrainingBackend, TrainingError } from "../../src/ports/index.js"
import {
  adam,
  awaitFuture,
  backendLayer,
  batch,
  postForwardBackward,
  postJson,
  sequenceDatum,
  sessionAndModel,
  testServer,
  withBackend
} from "./fixtures.js"

const protobuf = { accept: "application/x-protobuf" }

/**
 * The local backend, except that an optimizer step with learning rate 0.123 fails as the
 * backend's own machinery would (a `TrainingError`): the local backend has no such failure
 * to provoke on purpose.
 */
const failingStepLayer = Layer.effect(
  TrainingBackend,
  Effect.gen(function*() {
    const backend = yield* TrainingBackend
    return TrainingBackend.of({
      ...backend,
      createTrainingClient: (config) =>
        Effect.map(backend.createTrainingClient(config), (client) => ({
          ...client,
          optimStep: (params) =>
            params.learning_rate === 0.123
              ? Effect.succeed({ result: Effect.fail(new TrainingError({ operation: "optimStep", message: "the device fell over", retryable: true })) })
              : client.optimStep(params)
        }))
    })
  })
).pipe(Layer.provide(backendLayer))

describe("sous serve: futures", () => {
  it.live("answers try_again while a seq_id gap blocks a request, then its result with queue and compute times", () =>
    withBackend(Effect.gen(function*() {
      const server = yield* testServer({ pollWaitMs: 100 })
      const { modelId } = yield* sessionAndModel(server)
      const second = yield* postJson(server, "/optim_step", { model_id: modelId, seq_id: 2, adam_params: adam() })
      assert.strictEqual(second.status, 200)
      assert.deepStrictEqual(Object.keys(second.json), ["request_id", "model_id"])
      assert.strictEqual(second.json.model_id, modelId)
      const started = Date.now()
      const blocked = yield* postJson(server, "/retrieve_future", { request_id: second.json.request_id })
      assert.isAtLeast(Date.now() - started, 90)
      assert.strictEqual(blocked.status, 200)
      assert.deepStrictEqual(blocked.json, { type: "try_again", request_id: second.json.request_id, queue_state: "active" })
      assert.strictEqual(server.stats().optimizerSteps, 0)

      const first = yield* postForwardBackward(server, { model_id: modelId, seq_id: 1 })
      const stepped = yield* awaitFuture(server, second.json.request_id)
      assert.strictEqual(stepped.status, 200)
      assert.deepStrictEqual(Object.keys(stepped.json.metrics).sort(), ["grad_norm:mean", "learning_rate:mean"])
      assert.strictEqual(stepped.json.metrics["learning_rate:mean"], 0.01)
      // It waited for seq_id 1 for at least the first poll's 100 ms.
      assert.isAtLeast(Number(stepped.headers.get("x-sous-queue-ms")), 90)
      assert.isAtLeast(Number(stepped.headers.get("x-sous-compute-ms")), 0)
      const fb = yield* awaitFuture(server, first.json.request_id)
      assert.strictEqual(fb.json.loss_fn_output_type, "cross_entropy")
      assert.strictEqual(fb.json.loss_fn_outputs.length, 2)
      assert.strictEqual(server.stats().optimizerSteps, 1)
    })))

  it.live("answers a finished result again on every poll, as protobuf when the client accepts it", () =>
    withBackend(Effect.gen(function*() {
      const server = yield* testServer()
      const { modelId } = yield* sessionAndModel(server)
      const fb = yield* postForwardBackward(server, { model_id: modelId, seq_id: 1 })
      const json = yield* awaitFuture(server, fb.json.request_id)
      assert.strictEqual(json.headers.get("content-type"), "application/json")
      const again = yield* awaitFuture(server, fb.json.request_id)
      assert.deepStrictEqual(again.json, json.json)
      const proto = yield* awaitFuture(server, fb.json.request_id, protobuf)
      assert.strictEqual(proto.headers.get("content-type"), "application/x-protobuf")
      // The local backend's outputs are float32 values, so the protobuf form is exact.
      assert.deepStrictEqual(decodeForwardBackwardOutput(proto.bytes), json.json)
    })))

  it.live("announces a large result with complete_metadata when the poll allows it", () =>
    withBackend(Effect.gen(function*() {
      const server = yield* testServer({ metadataThresholdBytes: 100 })
      const { modelId } = yield* sessionAndModel(server)
      const fb = yield* postForwardBackward(server, { model_id: modelId, seq_id: 1, data: [...batch, ...batch] })
      yield* awaitFuture(server, fb.json.request_id)
      const full = yield* postJson(server, "/retrieve_future", { request_id: fb.json.request_id }, protobuf)
      assert.isAbove(full.bytes.byteLength, 100)
      const metadata = yield* postJson(server, "/retrieve_future", { request_id: fb.json.request_id, allow_metadata_only: true }, protobuf)
      assert.deepStrictEqual(metadata.json, { status: "complete_metadata", response_payload_size: full.bytes.byteLength })
      // A small result (its JSON is about 75 bytes) is answered in full even when metadata alone is allowed.
      const step = yield* postJson(server, "/optim_step", { model_id: modelId, seq_id: 2, adam_params: adam() })
      yield* awaitFuture(server, step.json.request_id)
      const small = yield* postJson(server, "/retrieve_future", { request_id: step.json.request_id, allow_metadata_only: true })
      assert.isDefined(small.json.metrics)
    })))

  it.live("fails the future with category user for a request the backend refuses, and server for a backend failure", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* testServer()
      const { modelId } = yield* sessionAndModel(server)
      // Token 99 is past the tiny model's vocabulary of 16.
      const bad = yield* postForwardBackward(server, { model_id: modelId, seq_id: 1, data: [sequenceDatum([1, 99, 3])] })
      assert.strictEqual(bad.status, 200)
      const refused = yield* awaitFuture(server, bad.json.request_id)
      assert.strictEqual(refused.status, 200)
      assert.deepStrictEqual(refused.json, { error: "datum 0: model_input holds a token id outside [0, 16)", category: "user" })
      const broken = yield* postJson(server, "/optim_step", { model_id: modelId, seq_id: 2, adam_params: adam(0.123) })
      assert.deepStrictEqual((yield* awaitFuture(server, broken.json.request_id)).json, { error: "the device fell over", category: "server" })
      // Failures still take their turn: seq_id 3 runs.
      const next = yield* postJson(server, "/optim_step", { model_id: modelId, seq_id: 3, adam_params: adam() })
      assert.strictEqual((yield* awaitFuture(server, next.json.request_id)).json.metrics["learning_rate:mean"], 0.01)
      assert.strictEqual(server.stats().optimizerSteps, 1)
    })).pipe(Effect.provide(failingStepLayer)))

  it.live("answers 404 for a request id it never issued, and a failure that says not to resend for a retrieved result past futureTtlMs", () =>
    withBackend(Effect.gen(function*() {
      const server = yield* testServer({ futureTtlMs: 300 })
      const { modelId } = yield* sessionAndModel(server)
      for (const requestId of ["nope", "abc-1", ""]) {
        const unknown = yield* postJson(server, "/retrieve_future", { request_id: requestId })
        assert.strictEqual(unknown.status, 404)
        assert.deepStrictEqual(unknown.json, { error: `unknown request_id ${JSON.stringify(requestId)}` })
      }
      const step = yield* postJson(server, "/optim_step", { model_id: modelId, seq_id: 1, adam_params: adam() })
      assert.strictEqual((yield* awaitFuture(server, step.json.request_id)).status, 200)
      yield* Effect.sleep(450)
      // A training result is never a 410: the Python SDK cannot resubmit it.
      const dropped = yield* postJson(server, "/retrieve_future", { request_id: step.json.request_id })
      assert.strictEqual(dropped.status, 200)
      assert.deepStrictEqual(dropped.json, {
        error: `the result of request ${step.json.request_id} is no longer kept (a result is kept until it is retrieved, and then, ` +
          "or once its model is gone, for 0.3 s). The request ran (unless it failed): do not send it again, or it is applied twice",
        category: "server"
      })
      // An id past the last one issued was never issued.
      const [prefix, counter] = (step.json.request_id as string).split("-")
      const future = yield* postJson(server, "/retrieve_future", { request_id: `${prefix}-${Number(counter) + 100}` })
      assert.strictEqual(future.status, 404)
    })))

  // A client may submit a request again whose result is gone (same seq_id, new idempotency key).
  // That seq_id was applied: the resubmission must not be applied again, and must not be sent
  // back to the dropped future either, but learn what happened.
  it.live("answers a resubmission of an applied seq_id whose result expired with a failed future, applying nothing", () =>
    withBackend(Effect.gen(function*() {
      const server = yield* testServer({ futureTtlMs: 300 })
      const { modelId } = yield* sessionAndModel(server)
      const step = yield* postJson(server, "/optim_step", { model_id: modelId, seq_id: 1, adam_params: adam() }, { "x-idempotency-key": "first" })
      assert.strictEqual((yield* awaitFuture(server, step.json.request_id)).status, 200)
      yield* Effect.sleep(450)
      assert.strictEqual((yield* postJson(server, "/retrieve_future", { request_id: step.json.request_id })).json.category, "server")
      const again = yield* postJson(server, "/optim_step", { model_id: modelId, seq_id: 1, adam_params: adam() }, { "x-idempotency-key": "second" })
      assert.strictEqual(again.status, 200)
      assert.notStrictEqual(again.json.request_id, step.json.request_id)
      const answer = yield* awaitFuture(server, again.json.request_id)
      assert.deepStrictEqual(answer.json, {
        error: `seq_id 1 of model ${modelId} was applied long ago and its result is no longer kept`,
        category: "user"
      })
      assert.strictEqual(server.stats().optimizerSteps, 1)
    })))
})
