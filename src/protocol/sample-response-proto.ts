/** `tinker_public.SampleResponse`, a sampling result as protobuf. */
import type {
  SampledSequence,
  SampleResponse
} from "../ports/index.js"
import { ProtoReader, ProtoWriter, WireType } from "./protobuf-wire.js"
import { DType, float32Bytes, int32Bytes, nested, readValues } from "./proto-values.js"

// tinker_public.StopReason
const StopReason = { stop: 0, length: 1 } as const

/** Serializes a sample response; null prompt logprobs travel as NaN. */
export const encodeSampleResponse = (response: SampleResponse): Uint8Array => {
  const writer = new ProtoWriter()
  response.sequences.forEach((sequence, index) =>
    writer.message(1, (inner) => {
      if (sequence.stop_reason === "length") inner.int(1, StopReason.length)
      if (sequence.tokens.length > 0) inner.bytes(2, int32Bytes(sequence.tokens, `sequences[${index}].tokens`))
      if (sequence.logprobs !== undefined) inner.bytes(3, float32Bytes(sequence.logprobs))
    })
  )
  if (response.prompt_logprobs !== undefined) writer.bytes(2, float32Bytes(response.prompt_logprobs))
  return writer.finish()
}

const readSequence = (reader: ProtoReader): SampledSequence => {
  let stopReason: SampledSequence["stop_reason"] = "stop"
  let tokens: Array<number> = []
  let logprobs: Array<number> | undefined
  for (let key = reader.next(); key !== undefined; key = reader.next()) {
    switch (key.field) {
      case 1: {
        reader.expect(key, WireType.varint, "stop_reason")
        const value = reader.int32("stop_reason")
        if (value !== StopReason.stop && value !== StopReason.length) throw reader.fail(`unknown stop reason ${value}`, "stop_reason")
        stopReason = value === StopReason.length ? "length" : "stop"
        break
      }
      case 2:
        reader.expect(key, WireType.lengthDelimited, "tokens")
        tokens = readValues(reader.bytesField("tokens"), DType.int32, reader, "tokens")
        break
      case 3:
        reader.expect(key, WireType.lengthDelimited, "logprobs")
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
  const reader = new ProtoReader(bytes, "SampleResponse")
  const sequences: Array<SampledSequence> = []
  let promptLogprobs: Array<number | null> | undefined
  for (let key = reader.next(); key !== undefined; key = reader.next()) {
    if (key.field === 1) {
      sequences.push(readSequence(nested(reader, key, "sequences", `SampleResponse.sequences[${sequences.length}]`)))
    } else if (key.field === 2) {
      reader.expect(key, WireType.lengthDelimited, "prompt_logprobs")
      promptLogprobs = readValues(reader.bytesField("prompt_logprobs"), DType.float32, reader, "prompt_logprobs")
        .map((value) => (Number.isNaN(value) ? null : value))
    } else reader.skip(key)
  }
  return promptLogprobs === undefined ? { sequences } : { sequences, prompt_logprobs: promptLogprobs }
}

