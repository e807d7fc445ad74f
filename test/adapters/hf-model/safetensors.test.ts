import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import {
  decodeSafetensors,
  encodeSafetensors,
  type SafeTensor,
  type SafetensorsError
} from "../../../src/adapters/hf-model/safetensors.js"

const tensor = (dtype: SafeTensor["dtype"], shape: ReadonlyArray<number>, values: ReadonlyArray<number>): SafeTensor => ({
  dtype,
  shape,
  values: new Float32Array(values)
})

// Values each type holds exactly, so a round trip must give them back unchanged.
const sample = new Map<string, SafeTensor>([
  ["layer.weight", tensor("F32", [2, 3], [0.1, -2.5, 3e-20, 1e30, -0, Infinity])],
  ["layer.bias", tensor("F16", [3], [1, -65504, 2 ** -24])],
  ["embed", tensor("BF16", [2, 2], [1.5, -3.25, 2 ** 100, NaN])],
  ["scale", tensor("F32", [], [7])],
  ["nothing", tensor("BF16", [0, 3], [])]
])

// A file from a header object and `dataBytes` bytes of data (0, 1, 2, ...), laid out by hand.
const fileOf = (header: unknown, dataBytes: number, declaredLength?: bigint) => {
  const json = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header))
  const file = new Uint8Array(8 + json.length + dataBytes)
  new DataView(file.buffer).setBigUint64(0, declaredLength ?? BigInt(json.length), true)
  file.set(json, 8)
  for (let index = 0; index < dataBytes; index++) file[8 + json.length + index] = index % 256
  return file
}

const refusal = (bytes: Uint8Array) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(decodeSafetensors(bytes, "damaged.safetensors"))
    const error = Exit.findErrorOption(exit)
    if (error._tag === "None") return assert.fail("expected the file to be refused")
    return error.value as SafetensorsError
  })

const f32 = (shape: ReadonlyArray<number>, begin: number, end: number) => ({ dtype: "F32", shape, data_offsets: [begin, end] })

describe("safetensors codec", () => {
  it.effect("decodes what it encodes, every dtype, a scalar, an empty tensor and the metadata", () =>
    Effect.gen(function*() {
      const metadata = { format: "pt", note: "ünïcode \"quoted\"" }
      const bytes = encodeSafetensors(sample, metadata)
      const decoded = yield* decodeSafetensors(bytes, "round-trip")
      assert.deepStrictEqual(decoded.metadata, metadata)
      assert.deepStrictEqual([...decoded.tensors.keys()].sort(), [...sample.keys()].sort())
      for (const [name, original] of sample) {
        const back = decoded.tensors.get(name)!
        assert.strictEqual(back.dtype, original.dtype)
        assert.deepStrictEqual(back.shape, original.shape)
        // Bit patterns, so -0 and NaN count too.
        assert.deepStrictEqual(new Uint32Array(back.values.buffer), new Uint32Array(original.values.buffer), name)
      }
      assert.deepStrictEqual(encodeSafetensors(decoded.tensors, decoded.metadata), bytes)
    }))

  it.effect("decodes from a Node Buffer that shares memory with other data, at an odd offset", () =>
    Effect.gen(function*() {
      const bytes = encodeSafetensors(sample)
      // Small Buffers share one pool; `subarray(1)` puts every tensor off its alignment.
      const shared = Buffer.concat([Buffer.from([7]), bytes]).subarray(1)
      const decoded = yield* decodeSafetensors(shared, "shared")
      assert.deepStrictEqual(encodeSafetensors(decoded.tensors), bytes)
    }))

  it.effect("lays the file out as the reference implementation does", () =>
    Effect.gen(function*() {
      const bytes = encodeSafetensors(new Map([["b", tensor("F16", [1], [1])], ["a", tensor("F16", [1], [2])], ["c", tensor("F32", [1], [3])]]))
      const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true))
      const header = new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))
      // Alignment first (F32 before F16), then names; the header padded with spaces to 8 bytes.
      const json = `{"c":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F16","shape":[1],"data_offsets":[4,6]},` +
        `"b":{"dtype":"F16","shape":[1],"data_offsets":[6,8]}}`
      assert.strictEqual(headerLength % 8, 0)
      assert.strictEqual(header, json.padEnd(headerLength, " "))
      assert.deepStrictEqual([...bytes.subarray(8 + headerLength)], [0x00, 0x00, 0x40, 0x40, 0x00, 0x40, 0x00, 0x3c])
      // The empty file: "{}" and six spaces.
      assert.deepStrictEqual([...encodeSafetensors(new Map())], [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32])
      const decoded = yield* decodeSafetensors(bytes, "layout")
      assert.deepStrictEqual([...decoded.tensors.keys()], ["c", "a", "b"])
    }))

  it("narrows F16 and BF16 to nearest even when writing values they cannot hold", () => {
    const bytes = encodeSafetensors(new Map([["h", tensor("F16", [2], [1 + 2 ** -11, 1e6])], ["b", tensor("BF16", [1], [1 + 2 ** -8 + 2 ** -20])]]))
    // b (BF16) comes before h (F16): 1 + 2^-8 + 2^-20 rounds up to 1 + 2^-7 (0x3f81); h: 1 and infinity.
    assert.deepStrictEqual([...bytes.subarray(bytes.length - 6)], [0x81, 0x3f, 0x00, 0x3c, 0x00, 0x7c])
  })

  it("refuses to write values that do not fill the shape, or a tensor named __metadata__", () => {
    assert.throws(() => encodeSafetensors(new Map([["w", tensor("F32", [2, 2], [1, 2, 3])]])), /"w" has 3 values for shape \[2, 2\]/)
    assert.throws(() => encodeSafetensors(new Map([["__metadata__", tensor("F32", [], [1])]])), /__metadata__/)
  })
})

describe("damaged safetensors files", () => {
  const refusals: ReadonlyArray<readonly [string, Uint8Array, RegExp, string?]> = [
    ["too short", new Uint8Array([1, 0, 0]), /3 bytes long, too short/],
    ["a header length past the file", fileOf({}, 0, 4096n), /header of 4096 bytes, past the end of the file \(10 bytes\)/],
    ["a header length of 2^64 - 1", fileOf({}, 0, 2n ** 64n - 1n), /past the end of the file/],
    ["a header that is not JSON", fileOf("{\"w\": ", 0), /header that is not UTF-8 JSON/],
    ["a header that is not UTF-8", fileOf("{\"ab\":1}", 0).map((byte, index) => index === 10 ? 0xff : byte), /not UTF-8 JSON/],
    ["a header that is a list", fileOf([1, 2], 0), /header that is not a JSON object/],
    ["an unsupported dtype", fileOf({ ids: { dtype: "I64", shape: [1], data_offsets: [0, 8] } }, 8), /"ids" has dtype I64, which is not supported/, "ids"],
    ["an unknown dtype", fileOf({ w: { dtype: "F12", shape: [1], data_offsets: [0, 4] } }, 4), /"w" has unknown dtype "F12"/, "w"],
    ["a shape that is not a list", fileOf({ w: { dtype: "F32", shape: 4, data_offsets: [0, 16] } }, 16), /"w" has a shape that is not/, "w"],
    ["a negative dimension", fileOf({ w: f32([-1], 0, 0) }, 0), /"w" has a shape that is not/, "w"],
    ["offsets that run backwards", fileOf({ w: f32([1], 4, 0) }, 4), /"w" has data_offsets \[4, 0\]/, "w"],
    ["offsets that are not a pair", fileOf({ w: { dtype: "F32", shape: [1], data_offsets: [0] } }, 4), /"w" has data_offsets that are not two/, "w"],
    ["offsets that disagree with shape and dtype", fileOf({ w: f32([2, 2], 0, 12) }, 12), /"w" has data_offsets \[0, 12\], which do not hold shape \[2, 2\] of F32/, "w"],
    ["overlapping tensors", fileOf({ a: f32([2], 0, 8), b: f32([2], 4, 12) }, 12), /"b" overlaps the tensor before it/, "b"],
    ["a gap between tensors", fileOf({ a: f32([1], 0, 4), b: f32([1], 8, 12) }, 12), /"b" leaves bytes 4 to 8 unaccounted for/, "b"],
    ["a tensor past the end", fileOf({ a: f32([1], 0, 4), b: f32([2], 4, 12) }, 8), /"b" ends at byte \d+, past the end of the file/, "b"],
    ["trailing bytes", fileOf({ a: f32([1], 0, 4) }, 7), /3 bytes after its last tensor that no tensor accounts for/],
    ["metadata that is not strings", fileOf({ __metadata__: { epoch: 3 } }, 0), /__metadata__ is not a map of strings to strings/]
  ]
  for (const [what, bytes, message, name] of refusals) {
    it.effect(`refuses ${what}, naming the file${name === undefined ? "" : " and the tensor"}`, () =>
      Effect.gen(function*() {
        const error = yield* refusal(bytes)
        assert.strictEqual(error._tag, "SafetensorsError")
        assert.strictEqual(error.source, "damaged.safetensors")
        assert.strictEqual(error.tensor, name)
        assert.match(error.message, /^damaged\.safetensors: /)
        assert.match(error.message, message)
      }))
  }

  it.effect("accepts tensors listed in any order, reading them in offset order", () =>
    Effect.gen(function*() {
      const decoded = yield* decodeSafetensors(fileOf({ b: f32([1], 4, 8), a: f32([1], 0, 4), e: f32([0], 8, 8) }, 8), "any-order")
      assert.deepStrictEqual([...decoded.tensors.keys()], ["a", "b", "e"])
      assert.deepStrictEqual(new Uint8Array(decoded.tensors.get("b")!.values.buffer), new Uint8Array([4, 5, 6, 7]))
    }))
})
