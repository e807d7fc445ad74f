import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import {
  type AdamParams,
  type ForwardBackwardOutput,
  fromInts,
  type TrainingClient,
  type TrainingClientConfig
} from "../../../src/ports/index.js"
import { architecture, awaitResult, byteDatums, connect, requestsTo, serveLocal } from "./served-backend.js"

const adam: AdamParams = { learning_rate: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.01, grad_clip_norm: 1 }

const batches = [
  byteDatums(["the cat sat", "on the mat", "a dog ran"]),
  byteDatums(["to the park", "and back", "again and again"]),
  byteDatums(["the end", "of the story", "is near", "now"])
]

const close = (actual: number, expected: number, what: string) =>
  assert.isTrue(Math.abs(actual - expected) <= 1e-6 * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected}`)

/** Same metrics (the remote_* timings aside) and the same per-datum outputs, within 1e-6. */
const assertSameOutput = (remote: ForwardBackwardOutput, local: ForwardBackwardOutput, what: string) => {
  assert.deepStrictEqual(Object.keys(remote.metrics).sort(), Object.keys(local.metrics).sort(), `${what} metric keys`)
  for (const [key, value] of Object.entries(local.metrics)) close(remote.metrics[key]!, value, `${what} ${key}`)
  assert.strictEqual(remote.loss_fn_outputs.length, local.loss_fn_outputs.length)
  local.loss_fn_outputs.forEach((outputs, row) => {
    assert.deepStrictEqual(Object.keys(remote.loss_fn_outputs[row]!).sort(), Object.keys(outputs).sort())
    for (const [name, tensor] of Object.entries(outputs)) {
      const got = remote.loss_fn_outputs[row]![name]!
      assert.strictEqual(got.dtype, tensor.dtype)
      assert.strictEqual(got.data.length, tensor.data.length)
      tensor.data.forEach((value, i) => close(got.data[i]!, value, `${what} row ${row} ${name}[${i}]`))
    }
  })
}

interface StepRecord {
  readonly forward: ForwardBackwardOutput
  readonly losses: ReadonlyArray<ForwardBackwardOutput>
  readonly steps: ReadonlyArray<Readonly<Record<string, number>>>
}

/**
 * Three pipelined steps: each step's forward/backward and optimizer step are submitted
 * before either is awaited, and the next batch before the last step's result is read.
 */
const trainLoop = (client: TrainingClient["Service"]) =>
  Effect.gen(function*() {
    const forward = yield* awaitResult(client.forward(batches[0]!, "cross_entropy"))
    const pending = []
    for (const batch of batches) {
      const loss = yield* client.forwardBackward(batch, "cross_entropy")
      const step = yield* client.optimStep(adam)
      pending.push({ loss, step })
    }
    const losses = []
    const steps = []
    for (const { loss, step } of pending) {
      losses.push(yield* loss.result)
      steps.push((yield* step.result).metrics)
    }
    return { forward, losses, steps } satisfies StepRecord
  })

const assertSameRun = (remote: StepRecord, local: StepRecord) => {
  assertSameOutput(remote.forward, local.forward, "forward")
  remote.losses.forEach((loss, i) => assertSameOutput(loss, local.losses[i]!, `step ${i} loss`))
  remote.steps.forEach((metrics, i) => {
    for (const [key, value] of Object.entries(local.steps[i]!)) close(metrics[key]!, value, `step ${i} ${key}`)
  })
}

describe("TinkerTrainingClient against sous serve", () => {
  for (const [label, config] of [
    ["full weights", { baseModel: "bytes", architecture, seed: 7 }],
    ["LoRA", { baseModel: "bytes", architecture, seed: 7, lora: { rank: 4, alpha: 8 } }]
  ] as const satisfies ReadonlyArray<readonly [string, TrainingClientConfig]>) {
    it.live(`trains (${label}) exactly as the in-process local client does`, () =>
      Effect.gen(function*() {
        const { server, local } = yield* serveLocal()
        const backend = yield* connect(server)
        const remoteClient = yield* backend.createTrainingClient(config)
        const localClient = yield* local.createTrainingClient(config)
        const remote = yield* trainLoop(remoteClient)
        const expected = yield* trainLoop(localClient)
        assertSameRun(remote, expected)

        // Each step reports where its requests' time went, and the server applied each step once.
        for (const metrics of remote.steps) {
          for (const key of ["remote_submit_ms", "remote_wait_ms", "remote_queue_ms", "remote_compute_ms", "remote_retries"]) {
            assert.isAtLeast(metrics[key]!, 0, key)
          }
        }
        // Forward/backward metrics get no timing keys.
        assert.notProperty(remote.losses[0]!.metrics, "remote_submit_ms")
        const info = yield* remoteClient.info
        assert.strictEqual(server.stats().optimizerStepsByModel[info.modelId], 3)
        assert.strictEqual(info.parameterCount, (yield* localClient.info).parameterCount)
        assert.strictEqual(info.baseModel, "bytes")
      }))
  }

  it.live("saves, loads and samples by tinker:// path with the local client's results", () =>
    Effect.gen(function*() {
      const { server, local } = yield* serveLocal()
      const backend = yield* connect(server)
      const config = { baseModel: "bytes", architecture, seed: 3 }
      const remoteClient = yield* backend.createTrainingClient(config)
      const localClient = yield* local.createTrainingClient(config)
      const batch = batches[0]!
      for (const client of [remoteClient, localClient]) {
        yield* awaitResult(client.forwardBackward(batch, "cross_entropy"))
        yield* awaitResult(client.optimStep(adam))
      }
      const saved = yield* awaitResult(remoteClient.saveState("after-one"))
      assert.strictEqual(saved._tag, "Remote")
      if (saved._tag === "Remote") assert.match(saved.path, /^tinker:\/\/.+\/weights\/after-one$/)
      const localSaved = yield* awaitResult(localClient.saveState("after-one"))

      // A second step, then back to the saved state: the same loss as right after the save.
      for (const client of [remoteClient, localClient]) {
        yield* awaitResult(client.forwardBackward(batch, "cross_entropy"))
        yield* awaitResult(client.optimStep(adam))
      }
      yield* awaitResult(remoteClient.loadState(saved, { optimizer: true }))
      yield* awaitResult(localClient.loadState(localSaved, { optimizer: true }))
      assertSameOutput(
        yield* awaitResult(remoteClient.forward(batch, "cross_entropy")),
        yield* awaitResult(localClient.forward(batch, "cross_entropy")),
        "after load"
      )

      const remoteWeights = yield* awaitResult(remoteClient.saveWeightsForSampler("policy"))
      if (remoteWeights._tag === "Remote") assert.match(remoteWeights.path, /\/sampler_weights\/policy$/)
      const remoteSampler = yield* backend.createSamplingClient(remoteWeights)
      const localSampler = yield* local.createSamplingClient(yield* awaitResult(localClient.saveWeightsForSampler("policy")))
      const prompt = fromInts([...new TextEncoder().encode("the cat")])
      const remoteLogprobs = yield* awaitResult(remoteSampler.computeLogprobs(prompt))
      const localLogprobs = yield* awaitResult(localSampler.computeLogprobs(prompt))
      assert.strictEqual(remoteLogprobs[0], null)
      localLogprobs.forEach((value, i) => {
        if (value === null) assert.strictEqual(remoteLogprobs[i], null)
        else close(remoteLogprobs[i]!, value, `prompt logprob ${i}`)
      })
      const params = { max_tokens: 6, seed: 11, temperature: 1, top_k: -1, top_p: 1 }
      const remoteSample = yield* awaitResult(remoteSampler.sample(prompt, 2, params))
      const localSample = yield* awaitResult(localSampler.sample(prompt, 2, params))
      assert.deepStrictEqual(remoteSample.sequences.map((s) => s.tokens), localSample.sequences.map((s) => s.tokens))
      assert.deepStrictEqual(remoteSample.sequences.map((s) => s.stop_reason), localSample.sequences.map((s) => s.stop_reason))

      // A base model by architecture and seed samples as the local backend's own does.
      const base = { baseModel: "bytes", architecture, seed: 3 }
      const remoteBase = yield* backend.createSamplingClient(base)
      const localBase = yield* local.createSamplingClient(base)
      const fromRemote = yield* awaitResult(remoteBase.computeLogprobs(prompt))
      const fromLocal = yield* awaitResult(localBase.computeLogprobs(prompt))
      fromLocal.forEach((value, i) => {
        if (value !== null) close(fromRemote[i]!, value, `base logprob ${i}`)
      })
    }))

  it.live("cuts a batch into chunks at the limit, one request each, and merges them into the unchunked result", () =>
    Effect.gen(function*() {
      const { server, log } = yield* serveLocal()
      const config = { baseModel: "bytes", architecture, seed: 5 }
      const chunked = yield* (yield* connect(server, { chunkLimits: { maxDatums: 2 } })).createTrainingClient(config)
      const whole = yield* (yield* connect(server)).createTrainingClient(config)
      const batch = byteDatums(["one", "two two", "three three", "four", "five five five"])

      const before = requestsTo(log, "/forward_backward").length
      const chunkedLoss = yield* awaitResult(chunked.forwardBackward(batch, "cross_entropy"))
      assert.strictEqual(requestsTo(log, "/forward_backward").length - before, Math.ceil(batch.length / 2))
      const chunkedStep = yield* awaitResult(chunked.optimStep(adam))

      const wholeLoss = yield* awaitResult(whole.forwardBackward(batch, "cross_entropy"))
      assert.strictEqual(requestsTo(log, "/forward_backward").length - before, Math.ceil(batch.length / 2) + 1)
      const wholeStep = yield* awaitResult(whole.optimStep(adam))

      assertSameOutput(chunkedLoss, wholeLoss, "chunked")
      for (const key of ["grad_norm:mean", "learning_rate:mean"]) close(chunkedStep.metrics[key]!, wholeStep.metrics[key]!, key)
      // The same weights after the step: the next forward agrees too.
      assertSameOutput(
        yield* awaitResult(chunked.forward(batch, "cross_entropy")),
        yield* awaitResult(whole.forward(batch, "cross_entropy")),
        "after the chunked step"
      )
    }))

  it.live("refuses an empty batch and local checkpoint bytes before sending anything", () =>
    Effect.gen(function*() {
      const { server } = yield* serveLocal()
      const backend = yield* connect(server)
      const client = yield* backend.createTrainingClient({ baseModel: "bytes", architecture, seed: 1 })
      const empty = yield* Effect.flip(client.forwardBackward([], "cross_entropy"))
      assert.strictEqual(empty._tag, "InvalidRequestError")
      const bytes = yield* Effect.flip(client.loadState({ _tag: "Bytes", bytes: new Uint8Array(4) }, { optimizer: false }))
      assert.strictEqual(bytes._tag, "InvalidRequestError")
      assert.include(bytes.message, "tinker://")
      const sampler = yield* Effect.flip(backend.createSamplingClient({ _tag: "Bytes", bytes: new Uint8Array(4) }))
      assert.strictEqual(sampler._tag, "InvalidRequestError")
      assert.include(sampler.message, "checkpoint bytes saved by a local backend")
      // Neither used a seq_id: the next request still runs.
      const loss = yield* awaitResult(client.forwardBackward(batches[0]!, "cross_entropy"))
      assert.isAbove(loss.metrics["loss:sum"]!, 0)
    }))

  it.live("reports a datum the backend refuses as an InvalidRequestError from the server", () =>
    Effect.gen(function*() {
      const { server } = yield* serveLocal()
      const client = yield* (yield* connect(server)).createTrainingClient({ baseModel: "bytes", architecture, seed: 1 })
      const tooLong = byteDatums(["x".repeat(40)])
      const error = yield* Effect.flip(awaitResult(client.forwardBackward(tooLong, "cross_entropy")))
      assert.strictEqual(error._tag, "InvalidRequestError")
      assert.include(error.message, "/forward_backward")
      // The refused request used its seq_id up: later ones still run.
      const loss = yield* awaitResult(client.forwardBackward(batches[0]!, "cross_entropy"))
      assert.isAbove(loss.metrics["loss:sum"]!, 0)
    }))
})
