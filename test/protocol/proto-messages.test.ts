import { assert, describe, it } from "@effect/vitest"
import { ProtobufReader } from "effect/protobuf"
import {
  decodeForwardBackwardOutput,
  decodeForwardBackwardRequest,
  decodeSampleResponse,
  encodeForwardBackwardOutput,
  encodeForwardBackwardRequest,
  encodeSampleResponse,
  type ForwardBackwardRequestMessage,
  ProtoDecodeError,
  readForwardBackwardTurn
} from "../../src/protocol/proto-messages.js"
import type { ForwardBackwardOutput, SampleResponse } from "../../src/ports/index.js"
import { joinPieces } from "../../src/stages/checkpoints/checkpoint-store.js"

/** Bytes from space-separated hex pairs, written by hand from the protobuf wire rules. */
const hex = (text: string): Uint8Array => new Uint8Array(text.trim().split(/\s+/).map((pair) => Number.parseInt(pair, 16)))
const toHex = (bytes: Uint8Array): string => Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join(" ")
const concat = (...parts: ReadonlyArray<Uint8Array>): Uint8Array => joinPieces(parts)

/** The message a decoder call throws; fails the test when it does not throw a ProtoDecodeError. */
const decodeError = (decode: () => unknown): string => {
  try {
    decode()
  } catch (error) {
    assert.instanceOf(error, ProtoDecodeError)
    return (error as Error).message
  }
  assert.fail("expected a ProtoDecodeError")
}

/** Field numbers at the top level of a message, in wire order. */
const topLevelFields = (bytes: Uint8Array): Array<number> => {
  const reader = ProtobufReader.make(bytes)
  const fields: Array<number> = []
  while (!reader.isDone()) {
    const tag = reader.tag()
    fields.push(ProtobufReader.fieldNumber(tag))
    reader.skip(tag)
  }
  return fields
}

// ForwardBackwardRequest{model_id "m", seq_id 3, data [Datum], loss_fn "cross_entropy",
// loss_fn_config {beta: 0.25}, forward_only true}, field by field.
const handRequest = [
  "0a 01 6d", // 1 model_id, length-delimited: "m"
  "10 03", // 2 seq_id, varint 3
  "1a 3f", // 3 data, 63 bytes of Datum:
  "  0a 0c", //   1 model_input: Chunk (12 bytes)
  "    0a 0a", //     1 encoded_text: EncodedTextChunk (10 bytes)
  "      0a 08 01 00 00 00 02 01 00 00", //       1 tokens: int32 LE [1, 258]
  "  12 10", //   2 loss_fn_inputs entry (16 bytes)
  "    0a 01 77", //     1 key "w"
  "    12 0b", //     2 value: Tensor (11 bytes)
  "      0a 04 00 00 00 3f", //       1 dense: float32 LE [0.5]
  "      18 01", //       3 dtype DTYPE_FLOAT32
  "      22 01 01", //       4 shape, packed int64 [1]
  "  12 1d", //   2 loss_fn_inputs entry (29 bytes)
  "    0a 0d 74 61 72 67 65 74 5f 74 6f 6b 65 6e 73", //     1 key "target_tokens"
  "    12 0c", //     2 value: Tensor (12 bytes)
  "      0a 08 ff ff ff ff ff ff ff ff", //       1 dense: int64 LE [-1]
  "      18 02", //       3 dtype DTYPE_INT64
  "22 0d 63 72 6f 73 73 5f 65 6e 74 72 6f 70 79", // 4 loss_fn "cross_entropy"
  "2a 0f", // 5 loss_fn_config entry (15 bytes)
  "  0a 04 62 65 74 61", //   1 key "beta"
  "  11 00 00 00 00 00 00 d0 3f", //   2 value, fixed64 double 0.25
  "30 01" // 6 forward_only true
].map((line) => line.replace(/\/\/.*$/, "")).join(" ")

const handRequestMessage: ForwardBackwardRequestMessage = {
  model_id: "m",
  seq_id: 3,
  data: [{
    model_input: { chunks: [{ type: "encoded_text", tokens: [1, 258] }] },
    loss_fn_inputs: {
      w: { data: [0.5], dtype: "float32", shape: [1] },
      target_tokens: { data: [-1], dtype: "int64" }
    }
  }],
  loss_fn: "cross_entropy",
  loss_fn_config: { beta: 0.25 },
  forward_only: true
}

describe("ForwardBackwardRequest", () => {
  it("round-trips datums with int64 targets, float32 weights, shapes, float tensors and config", () => {
    const message: ForwardBackwardRequestMessage = {
      model_id: "3f0c9a7e-1111:train:0",
      seq_id: 42,
      data: [
        {
          model_input: { chunks: [{ type: "encoded_text", tokens: [0, 1, 2_147_483_647, -5] }] },
          loss_fn_inputs: {
            target_tokens: { data: [7, -3, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER], dtype: "int64" },
            weights: { data: [1, 0.5, 0.25, 0, -2.75], dtype: "float32" },
            advantages: { data: [1, 2, 3, 4, 5, 6], dtype: "float32", shape: [2, 3] }
          }
        },
        {
          model_input: {
            chunks: [
              { type: "float_tensor", data: [0.5, -1, 3.25, 0, 1.5, 2], shape: [2, 3, 1] },
              { type: "encoded_text", tokens: [] }
            ]
          },
          loss_fn_inputs: { target_tokens: { data: [9], dtype: "int64", shape: [1] } }
        },
        { model_input: { chunks: [] }, loss_fn_inputs: {} }
      ],
      loss_fn: "ppo",
      loss_fn_config: { clip_low_threshold: 0.8, clip_high_threshold: 1.2 },
      forward_only: true
    }
    assert.deepStrictEqual(decodeForwardBackwardRequest(encodeForwardBackwardRequest(message)), message)

    const defaults: ForwardBackwardRequestMessage = {
      model_id: "",
      seq_id: 0,
      data: [],
      loss_fn: "",
      loss_fn_config: {},
      forward_only: false
    }
    // proto3 leaves default values out, so an all-default request is empty.
    assert.strictEqual(encodeForwardBackwardRequest(defaults).length, 0)
    assert.deepStrictEqual(decodeForwardBackwardRequest(new Uint8Array(0)), defaults)
  })

  it("rounds float32 tensor values to float32 and keeps config values as doubles", () => {
    const decoded = decodeForwardBackwardRequest(encodeForwardBackwardRequest({
      ...handRequestMessage,
      data: [{ model_input: { chunks: [] }, loss_fn_inputs: { weights: { data: [0.1], dtype: "float32" } } }],
      loss_fn_config: { beta: 0.1 }
    }))
    assert.deepStrictEqual(decoded.data[0]!.loss_fn_inputs["weights"]!.data, [0.10000000149011612])
    assert.strictEqual(decoded.loss_fn_config["beta"], 0.1)
  })

  it("decodes bytes laid out by hand, and encodes the same message to exactly those bytes", () => {
    assert.deepStrictEqual(decodeForwardBackwardRequest(hex(handRequest)), handRequestMessage)
    assert.strictEqual(toHex(encodeForwardBackwardRequest(handRequestMessage)), toHex(hex(handRequest)))
  })

  it("skips fields it does not know, of every wire type", () => {
    const unknown = hex([
      "98 06 2a", // field 99, varint 42
      "a2 06 02 ff ff", // field 100, length-delimited, 2 bytes
      "ad 06 01 02 03 04", // field 101, fixed32
      "b1 06 01 02 03 04 05 06 07 08", // field 102, fixed64
      "f8 ff ff ff 0f 80 80 80 80 80 80 80 80 80 01" // field 536870911 (the largest), 10-byte varint
    ].join(" "))
    assert.deepStrictEqual(decodeForwardBackwardRequest(concat(unknown, hex(handRequest), unknown)), handRequestMessage)
    // Inside a tensor too: Tensor{dense [0.5], dtype float32, field 9 "x"}.
    const tensorWithExtra = hex(
      "1a 15 12 13 0a 01 77 12 0e 0a 04 00 00 00 3f 18 01 4a 01 78 22 01 01"
    )
    assert.deepStrictEqual(decodeForwardBackwardRequest(tensorWithExtra).data[0]!.loss_fn_inputs, {
      w: { data: [0.5], dtype: "float32", shape: [1] }
    })
  })

  it("reads what other encoders may send: unpacked shapes, int32 and bfloat16 tensors, sparse CSR tensors", () => {
    const tensor = (body: string) => {
      const bytes = hex(body)
      const entry = concat(hex(`0a 01 74 12 ${bytes.length.toString(16).padStart(2, "0")}`), bytes)
      const datum = concat(hex(`12 ${entry.length.toString(16).padStart(2, "0")}`), entry)
      return decodeForwardBackwardRequest(concat(hex(`1a ${datum.length.toString(16).padStart(2, "0")}`), datum)).data[0]!
        .loss_fn_inputs["t"]
    }
    // shape [2, 1] as two varint fields instead of one packed field
    assert.deepStrictEqual(tensor("0a 08 00 00 80 3f 00 00 00 40 18 01 20 02 20 01"), {
      data: [1, 2],
      dtype: "float32",
      shape: [2, 1]
    })
    // DTYPE_INT32 [-2, 5] widens to int64
    assert.deepStrictEqual(tensor("0a 08 fe ff ff ff 05 00 00 00 18 03"), { data: [-2, 5], dtype: "int64" })
    // DTYPE_BFLOAT16 [1.0, -2.5] (0x3f80, 0xc020) widens to float32
    assert.deepStrictEqual(tensor("0a 04 80 3f 20 c0 18 04"), { data: [1, -2.5], dtype: "float32" })
    // sparse_csr of [[0, 3], [4, 0], [0, 0]]: values [3, 4], crow [0, 1, 2, 2], col [1, 0]
    assert.deepStrictEqual(
      tensor([
        "12 46",
        "0a 10 03 00 00 00 00 00 00 00 04 00 00 00 00 00 00 00",
        "12 20 00 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00",
        "1a 10 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
        "18 02 22 02 03 02"
      ].join(" ")),
      { data: [0, 3, 4, 0, 0, 0], dtype: "int64", shape: [3, 2] }
    )
  })

  it("refuses truncated and garbage bytes with an error naming what failed", () => {
    const bytes = hex(handRequest)
    // Every prefix either parses (it ends between fields) or fails as a ProtoDecodeError.
    for (let length = 0; length < bytes.length; length++) {
      try {
        decodeForwardBackwardRequest(bytes.subarray(0, length))
      } catch (error) {
        assert.instanceOf(error, ProtoDecodeError, `prefix of ${length} bytes`)
      }
    }
    assert.strictEqual(
      decodeError(() => decodeForwardBackwardRequest(bytes.subarray(0, 20))),
      "ForwardBackwardRequest.data: length 63 runs past the end of the message (truncated bytes?)"
    )
    assert.strictEqual(
      decodeError(() => decodeForwardBackwardRequest(hex("10 ff ff"))),
      "ForwardBackwardRequest.seq_id: truncated varint"
    )
    assert.strictEqual(
      decodeError(() => decodeForwardBackwardRequest(hex("08 01"))),
      "ForwardBackwardRequest.model_id: wire type varint, expected length-delimited"
    )
    assert.strictEqual(
      decodeError(() => decodeForwardBackwardRequest(hex("0a 02 c3 28"))),
      "ForwardBackwardRequest.model_id: is not valid UTF-8"
    )
    assert.strictEqual(
      decodeError(() => decodeForwardBackwardRequest(hex("ff ff ff ff ff ff ff ff ff ff ff"))),
      "ForwardBackwardRequest.field key: varint longer than 10 bytes"
    )
    assert.strictEqual(
      decodeError(() => decodeForwardBackwardRequest(hex("00 01"))),
      "ForwardBackwardRequest: field number 0 is not valid (garbage or truncated bytes?)"
    )
    assert.strictEqual(
      decodeError(() => decodeForwardBackwardRequest(hex("87 01 00"))),
      "ForwardBackwardRequest.field 16: unsupported wire type 7 (garbage bytes?)"
    )
    // Datum{loss_fn_inputs {"w": Tensor{dense: 5 bytes, dtype float32}}}
    assert.strictEqual(
      decodeError(() => decodeForwardBackwardRequest(hex("1a 10 12 0e 0a 01 77 12 09 0a 05 00 00 00 3f 00 18 01"))),
      "ForwardBackwardRequest.data[0].loss_fn_inputs[\"w\"].dense: 5 bytes is not a whole number of float32 values"
    )
    // the same tensor without a dtype
    assert.strictEqual(
      decodeError(() => decodeForwardBackwardRequest(hex("1a 0d 12 0b 0a 01 77 12 06 0a 04 00 00 00 3f"))),
      "ForwardBackwardRequest.data[0].loss_fn_inputs[\"w\"].dtype: dtype is missing (DTYPE_UNSPECIFIED)"
    )
    // a shape of [2] over one value
    assert.strictEqual(
      decodeError(() => decodeForwardBackwardRequest(hex("1a 12 12 10 0a 01 77 12 0b 0a 04 00 00 00 3f 18 01 22 01 02"))),
      "ForwardBackwardRequest.data[0].loss_fn_inputs[\"w\"].shape: shape [2] does not hold 1 values"
    )
    // a shape of [-1, -1] (10-byte two's complement varints) over one value
    assert.strictEqual(
      decodeError(() =>
        decodeForwardBackwardRequest(hex(
          "1a 25 12 23 0a 01 77 12 1e 0a 04 00 00 00 3f 18 01 22 14 ff ff ff ff ff ff ff ff ff 01 ff ff ff ff ff ff ff ff ff 01"
        ))
      ),
      "ForwardBackwardRequest.data[0].loss_fn_inputs[\"w\"].shape: shape [-1, -1] has a negative dimension"
    )
    // an empty sparse_csr claiming shape [4096, 8192]
    assert.strictEqual(
      decodeError(() => decodeForwardBackwardRequest(hex("1a 11 12 0f 0a 01 77 12 0a 12 00 18 02 22 04 80 20 80 40"))),
      "ForwardBackwardRequest.data[0].loss_fn_inputs[\"w\"].shape: a sparse tensor of shape [4096, 8192] is too large to expand (over 16777216 values)"
    )
    // the second chunk of a datum is an image
    assert.strictEqual(
      decodeError(() => decodeForwardBackwardRequest(hex("1a 08 0a 02 0a 00 0a 02 12 00"))),
      "ForwardBackwardRequest.data[0].model_input[1]: image chunks are not supported (sous reads encoded_text and float_tensor chunks)"
    )
    assert.strictEqual(
      decodeError(() => decodeForwardBackwardRequest(hex("1a 02 0a 00"))),
      "ForwardBackwardRequest.data[0].model_input[0]: the chunk is empty (expected encoded_text or float_tensor)"
    )
    // float_tensor{data [1.0], shape [2]}
    assert.strictEqual(
      decodeError(() => decodeForwardBackwardRequest(hex("1a 0d 0a 0b 7a 09 0a 04 00 00 80 3f 12 01 02"))),
      "ForwardBackwardRequest.data[0].model_input[0].float_tensor.shape: shape [2] does not hold 1 values"
    )
  })

  it("refuses field keys and length prefixes longer than protobuf allows", () => {
    // a key of 2^32: field numbers end at 536870911, so a key fits 32 bits
    assert.strictEqual(
      decodeError(() => decodeForwardBackwardRequest(hex("80 80 80 80 10 00"))),
      "ForwardBackwardRequest.field key: 4294967296 is larger than 32 bits (garbage bytes?)"
    )
    // key 8 (field 1, varint) padded to 6 bytes
    assert.strictEqual(
      decodeError(() => decodeForwardBackwardRequest(hex("88 80 80 80 80 00 01"))),
      "ForwardBackwardRequest.field key: 6 bytes long (a key takes at most 5)"
    )
    // model_id "a" with its length 1 padded to 6 bytes
    assert.strictEqual(
      decodeError(() => decodeForwardBackwardRequest(hex("0a 81 80 80 80 80 00 61"))),
      "ForwardBackwardRequest.model_id: length prefix of 6 bytes (a length takes at most 5)"
    )
    // a start-group key for an unknown field
    assert.strictEqual(
      decodeError(() => decodeForwardBackwardRequest(hex("9b 06 9c 06"))),
      "ForwardBackwardRequest.field 99: unsupported wire type start-group (garbage bytes?)"
    )
  })

  it("keeps a leading byte order mark in a string, as protobuf strings do", () => {
    const message = { ...handRequestMessage, model_id: "\uFEFFm" }
    assert.deepStrictEqual(decodeForwardBackwardRequest(encodeForwardBackwardRequest(message)), message)
  })

  it("refuses values the wire cannot carry when encoding", () => {
    const withTarget = (data: ReadonlyArray<number>): ForwardBackwardRequestMessage => ({
      ...handRequestMessage,
      data: [{ model_input: { chunks: [] }, loss_fn_inputs: { target_tokens: { data, dtype: "int64" } } }]
    })
    assert.throws(() => encodeForwardBackwardRequest(withTarget([1.5])), RangeError, "data[0].loss_fn_inputs.target_tokens: 1.5 is not an int64 value")
    assert.throws(
      () => encodeForwardBackwardRequest({ ...handRequestMessage, data: [{ model_input: { chunks: [{ type: "encoded_text", tokens: [2 ** 31] }] }, loss_fn_inputs: {} }] }),
      RangeError,
      "data[0].model_input[0]: 2147483648 is not an int32 token id"
    )
    assert.throws(
      () => encodeForwardBackwardRequest({ ...handRequestMessage, data: [{ model_input: { chunks: [] }, loss_fn_inputs: { w: { data: [1], dtype: "float32", shape: [2] } } }] }),
      RangeError,
      "data[0].loss_fn_inputs.w: shape [2] does not hold 1 values"
    )
    assert.throws(
      () => encodeForwardBackwardRequest({ ...handRequestMessage, data: [{ model_input: { chunks: [{ type: "float_tensor", data: [1, 2, 3], shape: [1.5, 2] }] }, loss_fn_inputs: {} }] }),
      RangeError,
      "data[0].model_input[0]: shape dimension 1.5 is not a safe integer"
    )
  })
})

describe("readForwardBackwardTurn", () => {
  // model_id "m", seq_id 5, then one datum whose only chunk is an image{data "png"}
  const withImage = hex("0a 01 6d 10 05 1a 09 0a 07 12 05 0a 03 70 6e 67")

  it("reads model_id and seq_id of a request whose data does not decode, as the SDK sends an image chunk", () => {
    assert.include(decodeError(() => decodeForwardBackwardRequest(withImage)), "image chunks are not supported")
    assert.deepStrictEqual(readForwardBackwardTurn(withImage), { model_id: "m", seq_id: 5 })
    assert.deepStrictEqual(readForwardBackwardTurn(encodeForwardBackwardRequest(handRequestMessage)), {
      model_id: handRequestMessage.model_id,
      seq_id: handRequestMessage.seq_id
    })
    // in any field order, the last of a repeated field winning, as protobuf reads it
    assert.deepStrictEqual(readForwardBackwardTurn(hex("1a 00 10 04 0a 01 6d 10 05")), { model_id: "m", seq_id: 5 })
  })

  it("keeps what it read before a broken field, and reads nothing it cannot", () => {
    // the data field's length runs past the end
    assert.deepStrictEqual(readForwardBackwardTurn(hex("0a 01 6d 10 05 1a 7f 0a")), { model_id: "m", seq_id: 5 })
    assert.isUndefined(readForwardBackwardTurn(hex("0a 01 6d 1a 00")))
    assert.isUndefined(readForwardBackwardTurn(hex("10 05 1a 7f 0a 01 6d")))
    assert.isUndefined(readForwardBackwardTurn(hex("0a ff ff ff ff 0f")))
    // model_id sent as a varint is not a model_id
    assert.isUndefined(readForwardBackwardTurn(hex("08 01 10 05")))
  })
})

describe("ForwardBackwardOutput", () => {
  it("puts datums with the same fields in one record, and round-trips them without shapes", () => {
    const output: ForwardBackwardOutput = {
      loss_fn_output_type: "cross_entropy",
      loss_fn_outputs: [
        { logprobs: { data: [-0.5, -1.25, -3], dtype: "float32" }, elementwise_loss: { data: [0.5, 1.25, 3], dtype: "float32" } },
        { logprobs: { data: [-2], dtype: "float32" }, elementwise_loss: { data: [2], dtype: "float32" } },
        { logprobs: { data: [], dtype: "float32" }, elementwise_loss: { data: [], dtype: "float32" } }
      ],
      metrics: { "loss:sum": 6.75, "weights:sum": 4 }
    }
    const bytes = encodeForwardBackwardOutput(output)
    assert.deepStrictEqual(topLevelFields(bytes), [1, 2, 3, 3])
    assert.deepStrictEqual(decodeForwardBackwardOutput(bytes), output)
  })

  it("puts datums with different fields, dtypes or trailing shapes in a record each", () => {
    const output: ForwardBackwardOutput = {
      loss_fn_output_type: "custom",
      loss_fn_outputs: [
        { logprobs: { data: [-1, -2], dtype: "float32" } },
        { logprobs: { data: [-1], dtype: "float32" }, tokens: { data: [5, 2 ** 33], dtype: "int64" } },
        { logits: { data: [1, 2, 3, 4, 5, 6], dtype: "float32", shape: [2, 3] } },
        { logits: { data: [1, 2, 3, 4], dtype: "float32", shape: [1, 4] } },
        {}
      ],
      metrics: {}
    }
    const bytes = encodeForwardBackwardOutput(output)
    assert.deepStrictEqual(topLevelFields(bytes), [1, 2, 2, 2, 2, 2])
    assert.deepStrictEqual(decodeForwardBackwardOutput(bytes), output)
  })

  it("keeps multi-dim shapes in one record when trailing shapes agree, and drops a 1-D shape", () => {
    const output: ForwardBackwardOutput = {
      loss_fn_output_type: "dro",
      loss_fn_outputs: [
        { logits: { data: [1, 2, 3, 4, 5, 6], dtype: "float32", shape: [3, 2] }, ids: { data: [1, 2], dtype: "int64", shape: [2] } },
        { logits: { data: [7, 8], dtype: "float32", shape: [1, 2] }, ids: { data: [3], dtype: "int64" } }
      ],
      metrics: { "loss:mean": 0.5 }
    }
    const bytes = encodeForwardBackwardOutput(output)
    assert.deepStrictEqual(topLevelFields(bytes), [1, 2, 3])
    assert.deepStrictEqual(decodeForwardBackwardOutput(bytes), {
      ...output,
      loss_fn_outputs: [
        { logits: { data: [1, 2, 3, 4, 5, 6], dtype: "float32", shape: [3, 2] }, ids: { data: [1, 2], dtype: "int64" } },
        { logits: { data: [7, 8], dtype: "float32", shape: [1, 2] }, ids: { data: [3], dtype: "int64" } }
      ]
    })
    const empty: ForwardBackwardOutput = { loss_fn_output_type: "cross_entropy", loss_fn_outputs: [], metrics: { "loss:sum": 0 } }
    assert.deepStrictEqual(decodeForwardBackwardOutput(encodeForwardBackwardOutput(empty)), empty)
  })

  it("decodes an output laid out by hand as the Tinker service sends it", () => {
    // ArrayRecord with datum offsets [0, 8, <last>] into 12 bytes of data, and num_datums.
    const record = (lastOffset: number, numDatums: string) =>
      hex([
        "0a 0b 41 72 72 61 79 52 65 63 6f 72 64", // 1 type_tag "ArrayRecord"
        "12 36", // 2 fields entry (54 bytes)
        "  0a 08 6c 6f 67 70 72 6f 62 73", //   1 key "logprobs"
        "  12 2a", //   2 value: BatchedTensor (42 bytes)
        "    0a 0c 00 00 80 bf 00 00 00 c0 00 00 40 c0", //     1 data float32 [-1, -2, -3]
        `    12 18 00 00 00 00 00 00 00 00 08 00 00 00 00 00 00 00 ${lastOffset.toString(16).padStart(2, "0")} 00 00 00 00 00 00 00`, //     2 offsets, int64 LE
        "    18 01", //     3 dtype DTYPE_FLOAT32
        numDatums // 3 num_datums
      ].map((line) => line.replace(/\/\/.*$/, "")).join(" "))
    const inOutput = (bytes: Uint8Array) => concat(hex(`12 ${bytes.length.toString(16)}`), bytes)
    const bytes = concat(
      hex("0a 18 74 69 6e 6b 65 72 2e 74 79 70 65 73 3a 41 72 72 61 79 52 65 63 6f 72 64"), // 1 "tinker.types:ArrayRecord"
      inOutput(record(12, "18 02")),
      hex("1a 13 0a 08 6c 6f 73 73 3a 73 75 6d 11 00 00 00 00 00 00 18 40") // 3 metrics {"loss:sum": 6}
    )
    const expected: ForwardBackwardOutput = {
      loss_fn_output_type: "ArrayRecord",
      loss_fn_outputs: [{ logprobs: { data: [-1, -2], dtype: "float32" } }, { logprobs: { data: [-3], dtype: "float32" } }],
      metrics: { "loss:sum": 6 }
    }
    assert.deepStrictEqual(decodeForwardBackwardOutput(bytes), expected)
    // Without num_datums (older senders) the offsets give the count.
    assert.deepStrictEqual(decodeForwardBackwardOutput(inOutput(record(12, ""))).loss_fn_outputs, expected.loss_fn_outputs)
    assert.strictEqual(
      decodeError(() => decodeForwardBackwardOutput(inOutput(record(16, "18 02")))),
      "ForwardBackwardOutput.loss_fn_outputs[0].fields[\"logprobs\"].offsets: datum 1 spans bytes [8, 16) of 12, not whole float32 values"
    )
    assert.strictEqual(
      decodeError(() => decodeForwardBackwardOutput(inOutput(record(12, "18 03")))),
      "ForwardBackwardOutput.loss_fn_outputs[0].fields: field \"logprobs\" has 2 datums, the record 3"
    )
  })
})

describe("SampleResponse", () => {
  it("round-trips sequences and prompt logprobs, null as NaN", () => {
    const response: SampleResponse = {
      sequences: [
        { stop_reason: "stop", tokens: [5, 6, 7], logprobs: [-0.5, -1.5, -0.25] },
        { stop_reason: "length", tokens: [1] },
        { stop_reason: "length", tokens: [], logprobs: [] }
      ],
      prompt_logprobs: [null, -1.5, -0.125]
    }
    const bytes = encodeSampleResponse(response)
    assert.deepStrictEqual(decodeSampleResponse(bytes), response)
    // field 2, 12 bytes: NaN (0x7fc00000), -1.5 (0xbfc00000), -0.125 (0xbe000000), float32 LE
    assert.include(toHex(bytes), "12 0c 00 00 c0 7f 00 00 c0 bf 00 00 00 be")
    assert.deepStrictEqual(decodeSampleResponse(encodeSampleResponse({ sequences: [] })), { sequences: [] })
  })

  it("decodes a response laid out by hand, skipping top-k logprobs and the cache count", () => {
    const bytes = hex([
      "0a 0e", // 1 sequences (14 bytes)
      "  08 01", //   1 stop_reason LENGTH
      "  12 04 2a 00 00 00", //   2 tokens int32 [42]
      "  1a 04 00 00 80 bf", //   3 logprobs float32 [-1]
      "12 08 00 00 c0 7f 00 00 00 bf", // 2 prompt_logprobs [NaN, -0.5]
      "1a 04 18 01 20 02", // 3 topk_prompt_logprobs {k 1, prompt_length 2}
      "20 07" // 4 prompt_cache_hit_tokens 7
    ].map((line) => line.replace(/\/\/.*$/, "")).join(" "))
    assert.deepStrictEqual(decodeSampleResponse(bytes), {
      sequences: [{ stop_reason: "length", tokens: [42], logprobs: [-1] }],
      prompt_logprobs: [null, -0.5]
    })
    assert.strictEqual(
      decodeError(() => decodeSampleResponse(hex("0a 02 08 05"))),
      "SampleResponse.sequences[0].stop_reason: unknown stop reason 5"
    )
    assert.strictEqual(
      decodeError(() => decodeSampleResponse(hex("0a 04 12 02 01 00"))),
      "SampleResponse.sequences[0].tokens: 2 bytes is not a whole number of int32 values"
    )
  })
})
