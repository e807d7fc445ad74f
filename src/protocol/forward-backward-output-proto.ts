/** `tinker_public.ForwardBackwardOutput`, a forward/backward result as protobuf. */
import { ProtobufWriter } from "effect/protobuf"
import type {
  ForwardBackwardOutput,
  TensorData
} from "../ports/index.js"
import { MessageReader } from "./proto-reader.js"
import { writeMessage, writePackedInt64 } from "./proto-writer.js"
import { DType, checkDims, checkShape, dtypeNames, int64Bytes, itemSizes, nested, product, publicDtype, readDoubleEntry, readMessageEntry, readValues, record, tensorBytes, wireDtype, writeDoubleMap } from "./proto-values.js"

type LossFnOutput = ForwardBackwardOutput["loss_fn_outputs"][number]
type Writer = ProtobufWriter.ProtobufWriter

const { Len, Varint } = ProtobufWriter.WireType

const trailingShape = (tensor: TensorData): ReadonlyArray<number> => tensor.shape?.slice(1) ?? []

const sameShape = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): boolean =>
  a.length === b.length && a.every((size, index) => size === b[index])

/** Whether every datum has the same fields, dtypes and trailing shapes, so one record holds them all. */
const batchable = (outputs: ReadonlyArray<LossFnOutput>): boolean => {
  const first = outputs[0]!
  const names = Object.keys(first)
  return outputs.every((output) =>
    Object.keys(output).length === names.length &&
    names.every((name) => {
      const tensor = output[name]
      const reference = first[name]!
      return tensor !== undefined && tensor.dtype === reference.dtype && sameShape(trailingShape(tensor), trailingShape(reference))
    })
  )
}

const writeBatchedTensor = (writer: Writer, tensors: ReadonlyArray<TensorData>, firstIndex: number, name: string): void => {
  const first = tensors[0]!
  const parts = tensors.map((tensor, index) => {
    const what = `loss_fn_outputs[${firstIndex + index}].${name}`
    checkShape(tensor, what)
    return tensorBytes(tensor, what)
  })
  const data = new Uint8Array(parts.reduce((total, part) => total + part.length, 0))
  const offsets: Array<number> = [0]
  for (const part of parts) {
    data.set(part, offsets[offsets.length - 1]!)
    offsets.push(offsets[offsets.length - 1]! + part.length)
  }
  writer.tag(1, Len).bytes(data)
  writer.tag(2, Len).bytes(int64Bytes(offsets, `loss_fn_outputs.${name} offsets`))
  writer.tag(3, Varint).int32(wireDtype(first.dtype))
  writePackedInt64(writer, 4, trailingShape(first), `loss_fn_outputs[${firstIndex}].${name}`)
}

const writeArrayRecord = (writer: Writer, outputs: ReadonlyArray<LossFnOutput>, firstIndex: number): void => {
  for (const name of Object.keys(outputs[0]!)) {
    writeMessage(writer, 2, (entry) => {
      entry.tag(1, Len).string(name)
      writeMessage(entry, 2, (inner) => writeBatchedTensor(inner, outputs.map((output) => output[name]!), firstIndex, name))
    })
  }
  writer.tag(3, Varint).int64(outputs.length)
}

/**
 * Serializes a forward/backward output. Its per-datum outputs go in one batched record when
 * every datum has the same fields, dtypes and trailing shapes, else in one record per datum.
 * A 1-D output is sent without a trailing shape, so it decodes without `shape`.
 */
export const encodeForwardBackwardOutput = (output: ForwardBackwardOutput): Uint8Array => {
  const writer = ProtobufWriter.make()
  if (output.loss_fn_output_type !== "") writer.tag(1, Len).string(output.loss_fn_output_type)
  const outputs = output.loss_fn_outputs
  if (outputs.length > 0) {
    if (batchable(outputs)) writeMessage(writer, 2, (inner) => writeArrayRecord(inner, outputs, 0))
    else outputs.forEach((one, index) => writeMessage(writer, 2, (inner) => writeArrayRecord(inner, [one], index)))
  }
  writeDoubleMap(writer, 3, output.metrics)
  return writer.finish()
}

interface BatchedField {
  readonly name: string
  readonly dtype: number
  readonly trailing: ReadonlyArray<number>
  readonly perDatum: ReadonlyArray<Array<number>>
}

const readBatchedTensor = (reader: MessageReader, name: string): BatchedField => {
  let data: Uint8Array = new Uint8Array(0)
  let offsetBytes: Uint8Array = new Uint8Array(0)
  let dtype = 0
  const trailing: Array<number> = []
  for (let key = reader.next(); key !== undefined; key = reader.next()) {
    switch (key.field) {
      case 1:
        reader.expect(key, Len, "data")
        data = reader.bytesField("data")
        break
      case 2:
        reader.expect(key, Len, "offsets")
        offsetBytes = reader.bytesField("offsets")
        break
      case 3:
        reader.expect(key, Varint, "dtype")
        dtype = reader.int32("dtype")
        break
      case 4:
        reader.repeatedInt64(key, "trailing_shape", trailing)
        break
      default:
        reader.skip(key)
    }
  }
  publicDtype(dtype, reader)
  checkDims(reader, trailing, "trailing_shape")
  const size = itemSizes[dtype]!
  const offsets = readValues(offsetBytes, DType.int64, reader, "offsets")
  const perDatum: Array<Array<number>> = []
  for (let index = 0; index + 1 < offsets.length; index++) {
    const start = offsets[index]!
    const end = offsets[index + 1]!
    if (start < 0 || end < start || end > data.length || start % size !== 0 || end % size !== 0) {
      throw reader.fail(`datum ${index} spans bytes [${start}, ${end}) of ${data.length}, not whole ${dtypeNames[dtype]} values`, "offsets")
    }
    perDatum.push(readValues(data.subarray(start, end), dtype, reader, "data"))
  }
  return { name, dtype, trailing, perDatum }
}

const readArrayRecord = (reader: MessageReader): Array<LossFnOutput> => {
  const fields: Array<BatchedField> = []
  let declared = 0
  for (let key = reader.next(); key !== undefined; key = reader.next()) {
    if (key.field === 2) {
      const { name, value } = readMessageEntry(nested(reader, key, "fields", `${reader.path}.fields`))
      const field = readBatchedTensor(new MessageReader(value, `${reader.path}.fields[${JSON.stringify(name)}]`), name)
      const existing = fields.findIndex((other) => other.name === name)
      if (existing >= 0) fields[existing] = field
      else fields.push(field)
    } else if (key.field === 3) {
      reader.expect(key, Varint, "num_datums")
      declared = reader.int64("num_datums")
    } else reader.skip(key)
  }
  // num_datums is authoritative; older senders leave it out, and then the offsets count.
  const count = declared > 0 ? declared : (fields[0]?.perDatum.length ?? 0)
  for (const field of fields) {
    if (field.perDatum.length !== count) {
      throw reader.fail(`field ${JSON.stringify(field.name)} has ${field.perDatum.length} datums, the record ${count}`, "fields")
    }
  }
  const outputs: Array<LossFnOutput> = []
  for (let index = 0; index < count; index++) {
    const tensors = new Map<string, TensorData>()
    for (const field of fields) {
      const data = field.perDatum[index]!
      const dtype = publicDtype(field.dtype, reader)
      if (field.trailing.length === 0) {
        tensors.set(field.name, { data, dtype })
        continue
      }
      const inner = product(field.trailing)
      if (inner === 0 ? data.length !== 0 : data.length % inner !== 0) {
        throw reader.fail(`datum ${index} of ${JSON.stringify(field.name)} has ${data.length} values, not rows of [${field.trailing.join(", ")}]`, "fields")
      }
      tensors.set(field.name, { data, dtype, shape: [inner === 0 ? 0 : data.length / inner, ...field.trailing] })
    }
    outputs.push(record(tensors))
  }
  return outputs
}

/** Parses a forward/backward output; throws {@link ProtoDecodeError}. */
export const decodeForwardBackwardOutput = (bytes: Uint8Array): ForwardBackwardOutput => {
  const reader = new MessageReader(bytes, "ForwardBackwardOutput")
  let type = ""
  const outputs: Array<LossFnOutput> = []
  const metrics = new Map<string, number>()
  let records = 0
  for (let key = reader.next(); key !== undefined; key = reader.next()) {
    switch (key.field) {
      case 1:
        reader.expect(key, Len, "loss_fn_output_type")
        type = reader.string("loss_fn_output_type")
        break
      case 2:
        outputs.push(...readArrayRecord(nested(reader, key, "loss_fn_outputs", `ForwardBackwardOutput.loss_fn_outputs[${records++}]`)))
        break
      case 3: {
        reader.expect(key, Len, "metrics")
        const [name, value] = readDoubleEntry(reader, "metrics")
        metrics.set(name, value)
        break
      }
      default:
        reader.skip(key)
    }
  }
  // Servers may send a qualified class name (`module:ArrayRecord`); the SDK keeps the last part.
  const loss_fn_output_type = type.slice(type.lastIndexOf(":") + 1)
  return { loss_fn_output_type, loss_fn_outputs: outputs, metrics: record(metrics) }
}

