import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { makeMemoryBlobStore } from "../../../src/adapters/blob/memory-blob-store.js"
import { localBackendLayer } from "../../../src/adapters/local/local-backend.js"
import { memoryMetricsSinkLayer } from "../../../src/adapters/metrics/memory-metrics-sink.js"
import { byteTokenizerLayer } from "../../../src/adapters/tokenizers/byte-tokenizer.js"
import { BlobStore, BlobStoreError, CheckpointManifest, TrainingBackend, TrainingClient } from "../../../src/ports/index.js"
import { checkpoint, emptySummary, manifestKey, RunKeys } from "../../../src/stages/index.js"
import { runWorkflow, sequence, stage, workflow } from "../../../src/workflows/index.js"
import { tinyArchitecture } from "../../adapters/local/fixtures.js"

const initialState = {
  [RunKeys.runInfo.name]: { runId: "r", recipeHash: "abc", startedAt: 0 },
  [RunKeys.dataCursor.name]: { epoch: 1, position: 7 },
  [RunKeys.summary.name]: emptySummary,
  [RunKeys.lastCheckpoint.name]: "step-00000002",
  [RunKeys.dataDigest.name]: "d1g35t"
}

const saveTwice = workflow({
  name: "save",
  initial: [RunKeys.runInfo, RunKeys.dataCursor, RunKeys.summary, RunKeys.lastCheckpoint, RunKeys.dataDigest],
  root: sequence(stage(checkpoint({ final: true, rendererId: "role-colon/assistant", dataSeed: 3, retention: { keepLast: 0, keepEvery: 0 } })))
})

const clientLayer = Layer.effect(
  TrainingClient,
  Effect.flatMap(TrainingBackend, (backend) => backend.createTrainingClient({ baseModel: "tiny", architecture: tinyArchitecture, seed: 1 }))
).pipe(Layer.provide(localBackendLayer({ device: "cpu" })))

/** A memory store that records the order of its writes. */
const recordingStore = Effect.map(makeMemoryBlobStore, (store) => {
  const writes: Array<string> = []
  const recorded = BlobStore.of({
    ...store,
    put: (key, bytes) => Effect.andThen(Effect.sync(() => writes.push(`put ${key}`)), store.put(key, bytes)),
    putIfAbsent: (key, bytes) => Effect.andThen(Effect.sync(() => writes.push(`putIfAbsent ${key}`)), store.putIfAbsent(key, bytes))
  })
  return { store: recorded, writes }
})

/** A memory store that fails the put of any manifest: a crash between blobs and commit. */
const storeFailingOnManifest = Effect.map(makeMemoryBlobStore, (store) =>
  BlobStore.of({
    ...store,
    putIfAbsent: (key, bytes) =>
      key.endsWith("manifest.json")
        ? Effect.fail(new BlobStoreError({ operation: "putIfAbsent", key, message: "disk full" }))
        : store.putIfAbsent(key, bytes)
  }))

const ports = (store: BlobStore["Service"]) =>
  Layer.mergeAll(clientLayer, byteTokenizerLayer(), memoryMetricsSinkLayer, Layer.succeed(BlobStore, store))

describe("checkpoint stage", () => {
  it.effect("writes the state blob, then commits a manifest that names it with its digest", () =>
    Effect.gen(function*() {
      const store = yield* makeMemoryBlobStore
      const result = yield* runWorkflow(saveTwice, { initialState }).pipe(Effect.provide(ports(store)))
      assert.strictEqual(result.state[RunKeys.lastCheckpoint.name], "final")
      assert.deepStrictEqual(yield* store.list(""), ["final/manifest.json", "final/state-r.bin", "index.json"])
      const manifest = Schema.decodeUnknownSync(CheckpointManifest)(JSON.parse(new TextDecoder().decode(yield* store.get(manifestKey("final")))))
      const state = yield* store.get("final/state-r.bin")
      const digest = Buffer.from(yield* Effect.promise(() => crypto.subtle.digest("SHA-256", state))).toString("hex")
      assert.deepStrictEqual(manifest.blobs, [{ key: "final/state-r.bin", bytes: state.byteLength, sha256: digest }])
      assert.deepStrictEqual(manifest.state, { _tag: "Blob", key: "final/state-r.bin" })
      assert.deepStrictEqual(manifest.dataCursor, { epoch: 1, position: 7 })
      assert.strictEqual(manifest.parent, "step-00000002")
      assert.strictEqual(manifest.rendererId, "role-colon/assistant")
      assert.match(manifest.tokenizerId, /^byte-v1/)
      assert.strictEqual(manifest.recipeHash, "abc")
      // What a resumed run needs: where the stage sits in the tree and the state after it.
      assert.deepStrictEqual(manifest.resume.position, [0])
      assert.deepStrictEqual(manifest.resume.state[RunKeys.dataCursor.name], { epoch: 1, position: 7 })
      assert.strictEqual(manifest.resume.state[RunKeys.lastCheckpoint.name], "final")
      assert.deepStrictEqual((manifest.resume.state[RunKeys.summary.name] as { checkpoints: unknown }).checkpoints, ["final"])
      const index = JSON.parse(new TextDecoder().decode(yield* store.get("index.json")))
      assert.deepStrictEqual(index, { version: 1, checkpoints: [{ name: "final", step: 0, createdAt: manifest.createdAt }] })
    }))

  it.effect("writes every blob before the manifest, and the manifest only if absent", () =>
    Effect.gen(function*() {
      const { store, writes } = yield* recordingStore
      yield* runWorkflow(saveTwice, { initialState }).pipe(Effect.provide(ports(store)))
      assert.deepStrictEqual(writes, ["put final/state-r.bin", "putIfAbsent final/manifest.json", "put index.json"])
    }))

  it.effect("never overwrites a committed checkpoint", () =>
    Effect.gen(function*() {
      const store = yield* makeMemoryBlobStore
      yield* runWorkflow(saveTwice, { initialState }).pipe(Effect.provide(ports(store)))
      const committed = yield* store.get("final/state-r.bin")
      const error = yield* Effect.flip(runWorkflow(saveTwice, { initialState }).pipe(Effect.provide(ports(store))))
      assert.strictEqual(error._tag, "BlobStoreError")
      assert.include(error.message, "already committed")
      assert.deepStrictEqual(yield* store.get("final/state-r.bin"), committed)
    }))

  it.effect("leaves no blob behind when the commit fails, so no manifest points at partial state", () =>
    Effect.gen(function*() {
      const store = yield* storeFailingOnManifest
      const error = yield* Effect.flip(runWorkflow(saveTwice, { initialState }).pipe(Effect.provide(ports(store))))
      assert.strictEqual(error._tag, "BlobStoreError")
      assert.deepStrictEqual(yield* store.list(""), [])
    }))
})
