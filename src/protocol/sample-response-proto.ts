/** `tinker_public.SampleResponse`, a sampling result as protobuf. */
import { ProtobufWriter } from "effect/protobuf"
import type {
  SampledSequence,
  SampleResponse
} from "../ports/index.js"
import { MessageReader } from "./proto-reader.js"
import { writeMessage } from "./proto-writer.js"
import { DType, float32Bytes, int32Bytes, nested, readValues } from "./proto-values.js"

// tinker_public.StopReason
const StopReason = { stop: 0, length: 1 } as const

const { Len, Varint } = ProtobufWriter.WireType

/** Serializes a sample response; null prompt logprobs travel as NaN. */
export const encodeSampleResponse = (response: SampleResponse): Uint8Array => {
  const writer = ProtobufWriter.make()
  response.sequences.forEach((sequence, index) =>
    writeMessage(writer, 1, (inner) => {
      if (sequence.stop_reason === "length") inner.tag(1, Varint).int32(StopReason.length)
      if (sequence.tokens.length > 0) inner.tag(2, Len).bytes(int32Bytes(sequence.tokens, `sequences[${index}].tokens`))
      if (sequence.logprobs !== undefined) inner.tag(3, Len).bytes(float32Bytes(sequence.logprobs))
    })
  )
  if (response.prompt_logprobs !== undefined) writer.tag(2, Len).bytes(float32Bytes(response.prompt_logprobs))
  return writer.finish()
}

const readSequence = (reader: MessageReader): SampledSequence => {
  let stopReason: SampledSequence["stop_reason"] = "stop"
  let tokens: Array<number> = []
  let logprobs: Array<number> | undefined
  for (let key = reader.next(); key !== undefined; key = reader.next()) {
    switch (key.field) {
      case 1: {
        reader.expect(key, Varint, "stop_reason")
        const value = reader.int32("stop_reason")
        if (value !== StopReason.stop && value !== StopReason.length) throw reader.fail(`unknown stop reason ${value}`, "stop_reason")
        stopReason = value === StopReason.length ? "length" : "stop"
        break
      }
      case 2:
        reader.expect(key, Len, "tokens")
        tokens = readValues(reader.bytesField("tokens"), DType.int32, reader, "tokens")
        break
      case 3:
        reader.expect(key, Len, "logprobs")
        logprobs = readValues(reader.bytesField("logprobs"), DType.float32, reader, "logprobs")
        break
      default:
        reader.skip(key)
    }
  }
  return logprobs === undefined ? { stop_reason: stopReason, tokens } : { stop_reason: stopReason, tokens, logprobs }
}

/** Parses a sample response (NaN prompt logprobs become null); throws {@link ProtoDecodeError}. */
export const decodeSampleResponse = (bytes: Uint8Array): SampleResponse => {
  const reader = new MessageReader(bytes, "SampleResponse")
  const sequences: Array<SampledSequence> = []
  let promptLogprobs: Array<number | null> | undefined
  for (let key = reader.next(); key !== undefined; key = reader.next()) {
    if (key.field === 1) {
      sequences.push(readSequence(nested(reader, key, "sequences", `SampleResponse.sequences[${sequences.length}]`)))
    } else if (key.field === 2) {
      reader.expect(key, Len, "prompt_logprobs")
      promptLogprobs = readValues(reader.bytesField("prompt_logprobs"), DType.float32, reader, "prompt_logprobs")
        .map((value) => (Number.isNaN(value) ? null : value))
    } else reader.skip(key)
  }
  return promptLogprobs === undefined ? { sequences } : { sequences, prompt_logprobs: promptLogprobs }
}

