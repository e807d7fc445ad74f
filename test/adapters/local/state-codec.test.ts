import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { makeLocalBackend } from "../../../src/adapters/local/local-backend.js"
import { shapeSize } from "../../../src/adapters/local/parameters.js"
import { decodeState, decodeStateTensors, encodeState, encodeStatePieces, type StateHeader } from "../../../src/adapters/local/state-codec.js"
import { reusedFloat32 } from "../../../src/adapters/local/tensor-memory.js"
import { joinPieces } from "../../../src/stages/checkpoints/checkpoint-store.js"
import { awaitCall, bytesOf, tinyClient } from "./fixtures.js"

const backend = makeLocalBackend({ device: "wasm" })

type TensorSpec = StateHeader["tensors"][number]

// The layout: 8 magic bytes, the header length (uint32, little endian), the JSON header, the data.
const headerStart = 12

/** State bytes with their header's tensor list replaced; the data section is kept as it is. */
const withTensors = (bytes: Uint8Array, edit: (tensors: Array<TensorSpec>) => Array<TensorSpec>): Uint8Array => {
  const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true)
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(headerStart, headerStart + length))) as StateHeader
  const json = new TextEncoder().encode(JSON.stringify({ ...header, tensors: edit([...header.tensors]) }))
  const data = bytes.subarray(headerStart + length)
  const out = new Uint8Array(headerStart + json.length + data.length)
  out.set(bytes.subarray(0, 8))
  new DataView(out.buffer).setUint32(8, json.length, true)
  out.set(json, headerStart)
  out.set(data, headerStart + json.length)
  return out
}

/** Both dims of every matrix negated: their product, so the byte count, stays the same. */
const negated = (tensors: Array<TensorSpec>): Array<TensorSpec> =>
  tensors.map((t) => t.shape.length === 2 ? { ...t, shape: t.shape.map((d) => -d) } : t)

/** The first tensor listed twice, its data appended (so the byte count still matches). */
const repeatFirst = (bytes: Uint8Array): Uint8Array => {
  const { header, data } = decodeState(bytes)
  const first = header.tensors[0]!
  const firstData = data.subarray(0, 4 * shapeSize(first.shape))
  const edited = withTensors(bytes, (tensors) => [...tensors, first])
  const out = new Uint8Array(edited.length + firstData.length)
  out.set(edited)
  out.set(firstData, edited.length)
  return out
}

describe("local state codec", () => {
  it.effect("refuses a header with negative dims or a tensor listed twice", () =>
    Effect.gen(function*() {
      const client = yield* tinyClient(yield* backend, 1)
      const bytes = bytesOf(yield* awaitCall(client.saveState("s")))
      assert.doesNotThrow(() => decodeState(bytes))
      assert.throws(() => decodeState(withTensors(bytes, negated)), /an integer >= 0/)
      assert.throws(() => decodeState(repeatFirst(bytes)), /lists tensor params\/token_embedding twice/)
    }))

  it.effect("decodes the same data from a Node Buffer that shares a larger pool", () =>
    Effect.gen(function*() {
      const client = yield* tinyClient(yield* backend, 4)
      const bytes = bytesOf(yield* awaitCall(client.saveState("s")))
      // A Buffer viewing the middle of a larger allocation, as readFileSync's can be.
      const pool = Buffer.alloc(bytes.length + 64)
      pool.set(bytes, 32)
      const viewed = pool.subarray(32, 32 + bytes.length)
      assert.deepStrictEqual(new Uint8Array(decodeState(viewed).data), new Uint8Array(decodeState(bytes).data))
    }))

  it.effect("refuses such states with an InvalidRequestError and makes no tensor", () =>
    Effect.gen(function*() {
      const b = yield* backend
      const client = yield* tinyClient(b, 2)
      const bytes = bytesOf(yield* awaitCall(client.saveState("s")))
      const tensors = tf.memory().numTensors
      for (const bad of [withTensors(bytes, negated), repeatFirst(bytes)]) {
        const error = yield* Effect.flip(awaitCall(client.loadState({ _tag: "Bytes", bytes: bad }, { optimizer: true })))
        assert.strictEqual(error._tag, "InvalidRequestError")
        const sampler = yield* Effect.flip(b.createSamplingClient({ _tag: "Bytes", bytes: bad }))
        assert.strictEqual(sampler._tag, "InvalidRequestError")
      }
      assert.strictEqual(tf.memory().numTensors, tensors)
    }))

  it.effect("frees the tensors it decoded when a later one fails", () =>
    Effect.gen(function*() {
      const client = yield* tinyClient(yield* backend, 3)
      const { header } = decodeState(bytesOf(yield* awaitCall(client.saveState("s"))))
      // Such a header never passes decodeState; built by hand, it reaches the tensor decoding.
      const tensors: Array<TensorSpec> = [
        { name: "a", shape: [2], dtype: "float32" },
        { name: "b", shape: [2, -1], dtype: "float32" },
        { name: "c", shape: [2], dtype: "float32" }
      ]
      const before = tf.memory().numTensors
      assert.throws(() => decodeStateTensors({ header: { ...header, tensors }, data: new Uint8Array(8) }))
      assert.strictEqual(tf.memory().numTensors, before)
    }))
  it.effect("writes the layout of tf.io.encodeWeights byte for byte, and decodes it at any alignment", () =>
    Effect.gen(function*() {
      yield* backend
      const tensors = [
        { name: "a", tensor: tf.tensor([[1.5, -2], [3, 4e-8]]) },
        { name: "b", tensor: tf.tensor([7, 8, 9]) }
      ]
      const architecture = { kind: "mlp", inputShape: [2], hidden: [2], classes: 3 } as const
      const { data, specs } = yield* Effect.promise(() => tf.io.encodeWeights(tensors))
      // Names of four lengths put the data section at each offset modulo 4.
      for (const name of ["s", "s1", "s12", "s123"]) {
        const bytes = encodeState({ name, kind: "state", architecture, step: 3, tensors })
        const header = { format: "sous-local-state", version: 1, name, kind: "state", architecture, step: 3, tensors: specs }
        const json = new TextEncoder().encode(JSON.stringify(header))
        const expected = new Uint8Array(12 + json.length + data.byteLength)
        expected.set(new TextEncoder().encode("sous-tf1"))
        new DataView(expected.buffer).setUint32(8, json.length, true)
        expected.set(json, 12)
        expected.set(new Uint8Array(data), 12 + json.length)
        assert.deepStrictEqual(bytes, expected)
        const decoded = decodeStateTensors(decodeState(bytes))
        for (const { name: key, tensor } of tensors) assert.deepStrictEqual(decoded[key]!.arraySync(), tensor.arraySync())
        tf.dispose(Object.values(decoded))
      }
      tf.dispose(tensors.map((t) => t.tensor))
    }))

  it.effect("encodes the same bytes in pieces: held values lent as they lie, tensors copied into the reused staging array", () =>
    Effect.gen(function*() {
      yield* backend
      const held = new Float32Array([0.25, -1, 3])
      const tensors = [
        { name: "a", tensor: tf.tensor([[1.5, -2], [3, 4e-8]]) },
        { name: "m", tensor: { shape: [3], values: held } },
        { name: "b", tensor: tf.tensor([7, 8, 9]) }
      ]
      const contents = { name: "s", kind: "state" as const, architecture: { kind: "mlp", inputShape: [2], hidden: [2], classes: 3 } as const, step: 3, tensors }
      const staging = reusedFloat32()
      const pieces = encodeStatePieces(contents, staging)
      assert.deepStrictEqual(joinPieces(pieces), encodeState(contents))
      // The held values are lent, not copied; the tensors' values went to the staging array.
      assert.strictEqual(pieces[2]!.buffer, held.buffer)
      assert.strictEqual(pieces[1]!.buffer, staging(0).buffer)
      assert.strictEqual(pieces[3]!.buffer, staging(0).buffer)
      assert.deepStrictEqual([...staging(0).subarray(0, 7)], [1.5, -2, 3, Math.fround(4e-8), 7, 8, 9])
      tf.dispose([tensors[0]!.tensor, tensors[2]!.tensor] as Array<tf.Tensor>)
    }))

  it("refuses a NaN or an infinity anywhere in a tensor, whole or in pieces, naming the tensor", () => {
    const architecture = { kind: "mlp", inputShape: [2], hidden: [2], classes: 3 } as const
    // Lengths and positions that hit both the four-wide loop and the remainder after it.
    for (const length of [1, 4, 7, 1001]) {
      for (const at of [0, length - 1, Math.floor(length / 2)]) {
        for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
          const values = Float32Array.from({ length }, (_, i) => i - 3.5)
          values[at] = bad
          const contents = { name: "s", kind: "state" as const, architecture, step: 0, tensors: [{ name: "adam_v/w", tensor: { shape: [length], values } }] }
          assert.throws(() => encodeState(contents), `adam_v/w holds ${bad}: training diverged`)
          assert.throws(() => encodeStatePieces(contents, reusedFloat32()), `adam_v/w holds ${bad}: training diverged`)
        }
      }
    }
    const finite = { name: "s", kind: "state" as const, architecture, step: 0, tensors: [{ name: "w", tensor: { shape: [3], values: new Float32Array([-3.4e38, 0, 3.4e38]) } }] }
    assert.doesNotThrow(() => encodeState(finite))
  })
})

