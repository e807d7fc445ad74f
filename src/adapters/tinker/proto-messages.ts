/**
 * The `tinker_public` protobuf messages sous sends and reads: the forward/backward request
 * and its output, and the sample response. Field numbers follow the Tinker SDK's
 * `tinker_public.proto`. sous adds one field, Chunk 15 `FloatTensorChunk{data = 1 (float32
 * LE bytes), shape = 2 (packed int64)}`, for its `float_tensor` chunks; other decoders skip it.
 *
 * Encoders throw a `RangeError` for values the wire cannot carry (a fractional token id);
 * decoders throw a {@link ProtoDecodeError} naming the message and field that is wrong.
 */
import type {
  Datum,
  ForwardBackwardOutput,
  ModelInputChunk,
  SampledSequence,
  SampleResponse,
  TensorData,
  TensorDtype
} from "../../ports/index.js"
import { type FieldKey, ProtoReader, ProtoWriter, WireType } from "./protobuf-wire.js"

export { ProtoDecodeError } from "./protobuf-wire.js"

/** A forward/backward (or forward-only) request: `tinker_public.ForwardBackwardRequest`. */
export interface ForwardBackwardRequestMessage {
  readonly model_id: string
  readonly seq_id: number
  readonly data: ReadonlyArray<Datum>
  readonly loss_fn: string
  readonly loss_fn_config: Readonly<Record<string, number>>
  readonly forward_only: boolean
}

// tinker_public.DType
const DType = { float32: 1, int64: 2, int32: 3, bfloat16: 4 } as const

// tinker_public.StopReason
const StopReason = { stop: 0, length: 1 } as const

const twoTo32 = 4294967296
const int32Min = -(2 ** 31)
const int32Max = 2 ** 31 - 1

// ---------------------------------------------------------------------------------------------
// Little-endian number arrays (DataView, so the byte order holds on any host)

const float32Bytes = (values: ReadonlyArray<number | null>): Uint8Array => {
  const bytes = new Uint8Array(values.length * 4)
  const view = new DataView(bytes.buffer)
  values.forEach((value, index) => view.setFloat32(index * 4, value ?? Number.NaN, true))
  return bytes
}

const int32Bytes = (values: ReadonlyArray<number>, what: string): Uint8Array => {
  const bytes = new Uint8Array(values.length * 4)
  const view = new DataView(bytes.buffer)
  values.forEach((value, index) => {
    if (!Number.isInteger(value) || value < int32Min || value > int32Max) {
      throw new RangeError(`${what}: ${value} is not an int32 token id`)
    }
    view.setInt32(index * 4, value, true)
  })
  return bytes
}

const int64Bytes = (values: ReadonlyArray<number>, what: string): Uint8Array => {
  const bytes = new Uint8Array(values.length * 8)
  const view = new DataView(bytes.buffer)
  values.forEach((value, index) => {
    if (!Number.isSafeInteger(value)) throw new RangeError(`${what}: ${value} is not an int64 value (a safe integer)`)
    // Two halves: the low word unsigned, the high word signed (floor keeps negatives right).
    view.setUint32(index * 8, ((value % twoTo32) + twoTo32) % twoTo32, true)
    view.setInt32(index * 8 + 4, Math.floor(value / twoTo32), true)
  })
  return bytes
}

const scratch = new DataView(new ArrayBuffer(4))

const itemSizes: Readonly<Record<number, number>> = {
  [DType.float32]: 4,
  [DType.int64]: 8,
  [DType.int32]: 4,
  [DType.bfloat16]: 2
}

const dtypeNames: Readonly<Record<number, string>> = {
  [DType.float32]: "float32",
  [DType.int64]: "int64",
  [DType.int32]: "int32",
  [DType.bfloat16]: "bfloat16"
}

/**
 * Reads `bytes` as values of a wire dtype. int32 widens to int64 and bfloat16 to float32, as
 * the SDK does, since the public tensors are float32 or int64.
 */
const readValues = (bytes: Uint8Array, dtype: number, reader: ProtoReader, field: string): Array<number> => {
  const size = itemSizes[dtype]!
  if (bytes.length % size !== 0) {
    throw reader.fail(`${bytes.length} bytes is not a whole number of ${dtypeNames[dtype]} values`, field)
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const count = bytes.length / size
  const values = new Array<number>(count)
  for (let index = 0; index < count; index++) {
    switch (dtype) {
      case DType.float32:
        values[index] = view.getFloat32(index * 4, true)
        break
      case DType.int32:
        values[index] = view.getInt32(index * 4, true)
        break
      case DType.bfloat16:
        // A bfloat16 is the high half of a float32.
        scratch.setUint32(0, view.getUint16(index * 2, true) * 65536)
        values[index] = scratch.getFloat32(0)
        break
      default: {
        const value = view.getInt32(index * 8 + 4, true) * twoTo32 + view.getUint32(index * 8, true)
        if (!Number.isSafeInteger(value)) throw reader.fail(`int64 value ${value} is outside the safe integer range`, field)
        values[index] = value
      }
    }
  }
  return values
}

const product = (shape: ReadonlyArray<number>): number => shape.reduce((total, size) => total * size, 1)

/** Refuses a negative dimension (two of them would multiply to a plausible size). */
const checkDims = (reader: ProtoReader, shape: ReadonlyArray<number>, field: string): void => {
  if (shape.some((size) => size < 0)) throw reader.fail(`shape [${shape.join(", ")}] has a negative dimension`, field)
}

// A sparse tensor expands to at most this many values: its shape comes off the wire, and a
// few bytes must not be able to ask for gigabytes.
const maxDenseValues = 2 ** 24

/** The public dtype of a wire dtype, or a decode error for an unknown one. */
const publicDtype = (dtype: number, reader: ProtoReader): TensorDtype => {
  if (dtype === DType.float32 || dtype === DType.bfloat16) return "float32"
  if (dtype === DType.int64 || dtype === DType.int32) return "int64"
  throw reader.fail(dtype === 0 ? "dtype is missing (DTYPE_UNSPECIFIED)" : `unknown dtype ${dtype}`, "dtype")
}

const wireDtype = (dtype: TensorDtype): number => (dtype === "float32" ? DType.float32 : DType.int64)

const tensorBytes = (tensor: TensorData, what: string): Uint8Array =>
  tensor.dtype === "float32" ? float32Bytes(tensor.data) : int64Bytes(tensor.data, what)

const checkShape = (tensor: TensorData, what: string): void => {
  if (tensor.shape !== undefined && product(tensor.shape) !== tensor.data.length) {
    throw new RangeError(`${what}: shape [${tensor.shape.join(", ")}] does not hold ${tensor.data.length} values`)
  }
}

/** Builds a record from wire keys; `fromEntries` keeps a key such as `__proto__` an own property. */
const record = <A>(entries: Map<string, A>): Record<string, A> => Object.fromEntries(entries)

/** Reads a `map<string, double>` entry. */
const readDoubleEntry = (reader: ProtoReader, field: string): readonly [string, number] => {
  const entry = reader.message(field, `${reader.path}.${field}`)
  let key = ""
  let value = 0
  for (let tag = entry.next(); tag !== undefined; tag = entry.next()) {
    if (tag.field === 1) {
      entry.expect(tag, WireType.lengthDelimited, "key")
      key = entry.string("key")
    } else if (tag.field === 2) {
      entry.expect(tag, WireType.fixed64, "value")
      value = entry.double("value")
    } else entry.skip(tag)
  }
  return [key, value]
}

const writeDoubleMap = (writer: ProtoWriter, field: number, values: Readonly<Record<string, number>>): void => {
  for (const [key, value] of Object.entries(values)) writer.message(field, (entry) => entry.string(1, key).double(2, value))
}

/** Reads a repeated-message field's reader after checking its wire type. */
const nested = (reader: ProtoReader, key: FieldKey, field: string, path: string): ProtoReader => {
  reader.expect(key, WireType.lengthDelimited, field)
  return reader.message(field, path)
}

/**
 * One entry of a `map<string, Message>`: its key and the value's bytes. The key may follow the
 * value on the wire, so the caller reads the value once both are known.
 */
const readMessageEntry = (entry: ProtoReader): { readonly name: string; readonly value: Uint8Array } => {
  let name = ""
  let value: Uint8Array = new Uint8Array(0)
  for (let tag = entry.next(); tag !== undefined; tag = entry.next()) {
    if (tag.field === 1) {
      entry.expect(tag, WireType.lengthDelimited, "key")
      name = entry.string("key")
    } else if (tag.field === 2) {
      entry.expect(tag, WireType.lengthDelimited, "value")
      value = entry.bytesField("value")
    } else entry.skip(tag)
  }
  return { name, value }
}

// ---------------------------------------------------------------------------------------------
// ForwardBackwardRequest

const writeTensor = (writer: ProtoWriter, tensor: TensorData, what: string): void => {
  checkShape(tensor, what)
  // Always written, even empty: `dense` is a oneof, and its presence says the tensor is dense.
  writer.bytes(1, tensorBytes(tensor, what))
  writer.int(3, wireDtype(tensor.dtype))
  if (tensor.shape !== undefined) writer.packedInts(4, tensor.shape)
}

const writeChunk = (writer: ProtoWriter, chunk: ModelInputChunk, what: string): void => {
  if (chunk.type === "encoded_text") {
    writer.message(1, (text) => {
      if (chunk.tokens.length > 0) text.bytes(1, int32Bytes(chunk.tokens, what))
    })
  } else {
    writer.message(15, (tensor) => {
      if (chunk.data.length > 0) tensor.bytes(1, float32Bytes(chunk.data))
      tensor.packedInts(2, chunk.shape)
    })
  }
}

const writeDatum = (writer: ProtoWriter, datum: Datum, what: string): void => {
  datum.model_input.chunks.forEach((chunk, index) =>
    writer.message(1, (inner) => writeChunk(inner, chunk, `${what}.model_input[${index}]`))
  )
  for (const [key, tensor] of Object.entries(datum.loss_fn_inputs)) {
    writer.message(2, (entry) => {
      entry.string(1, key)
      entry.message(2, (inner) => writeTensor(inner, tensor, `${what}.loss_fn_inputs.${key}`))
    })
  }
}

/** Serializes a forward/backward request. */
export const encodeForwardBackwardRequest = (message: ForwardBackwardRequestMessage): Uint8Array => {
  if (!Number.isInteger(message.seq_id) || message.seq_id < int32Min || message.seq_id > int32Max) {
    throw new RangeError(`seq_id: ${message.seq_id} is not an int32`)
  }
  const writer = new ProtoWriter()
  if (message.model_id !== "") writer.string(1, message.model_id)
  if (message.seq_id !== 0) writer.int(2, message.seq_id)
  message.data.forEach((datum, index) => writer.message(3, (inner) => writeDatum(inner, datum, `data[${index}]`)))
  if (message.loss_fn !== "") writer.string(4, message.loss_fn)
  writeDoubleMap(writer, 5, message.loss_fn_config)
  if (message.forward_only) writer.bool(6, true)
  return writer.finish()
}

/** Expands a CSR matrix (values, row pointers, column indices) of `shape` into dense row-major data. */
const densifyCsr = (
  reader: ProtoReader,
  values: ReadonlyArray<number>,
  rowPointers: ReadonlyArray<number>,
  columns: ReadonlyArray<number>,
  shape: ReadonlyArray<number>
): Array<number> => {
  if (shape.length !== 2) throw reader.fail(`a sparse CSR tensor needs a 2-D shape, got [${shape.join(", ")}]`, "shape")
  const [rows, cols] = shape as [number, number]
  if (rows * cols > maxDenseValues) {
    throw reader.fail(`a sparse tensor of shape [${rows}, ${cols}] is too large to expand (over ${maxDenseValues} values)`, "shape")
  }
  if (rowPointers.length !== rows + 1) {
    throw reader.fail(`${rowPointers.length} row pointers for ${rows} rows (expected ${rows + 1})`, "sparse_csr.crow_indices")
  }
  if (columns.length !== values.length) {
    throw reader.fail(`${columns.length} column indices for ${values.length} values`, "sparse_csr.col_indices")
  }
  const dense = new Array<number>(rows * cols).fill(0)
  for (let row = 0; row < rows; row++) {
    const start = rowPointers[row]!
    const end = rowPointers[row + 1]!
    if (start < 0 || end < start || end > values.length) {
      throw reader.fail(`row ${row} points at values [${start}, ${end}) of ${values.length}`, "sparse_csr.crow_indices")
    }
    for (let index = start; index < end; index++) {
      const col = columns[index]!
      if (col < 0 || col >= cols) throw reader.fail(`column ${col} is outside [0, ${cols})`, "sparse_csr.col_indices")
      dense[row * cols + col] = values[index]!
    }
  }
  return dense
}

const readTensor = (reader: ProtoReader): TensorData => {
  let dense: Uint8Array | undefined
  let sparse: ProtoReader | undefined
  let dtype = 0
  const shape: Array<number> = []
  for (let key = reader.next(); key !== undefined; key = reader.next()) {
    switch (key.field) {
      case 1:
        reader.expect(key, WireType.lengthDelimited, "dense")
        dense = reader.bytesField("dense")
        sparse = undefined
        break
      case 2:
        sparse = nested(reader, key, "sparse_csr", `${reader.path}.sparse_csr`)
        dense = undefined
        break
      case 3:
        reader.expect(key, WireType.varint, "dtype")
        dtype = reader.int32("dtype")
        break
      case 4:
        reader.repeatedInt64(key, "shape", shape)
        break
      default:
        reader.skip(key)
    }
  }
  const publicType = publicDtype(dtype, reader)
  checkDims(reader, shape, "shape")
  let data: Array<number>
  if (sparse !== undefined) {
    let values: Uint8Array = new Uint8Array(0)
    let rowPointers: Uint8Array = new Uint8Array(0)
    let columns: Uint8Array = new Uint8Array(0)
    for (let key = sparse.next(); key !== undefined; key = sparse.next()) {
      if (key.field >= 1 && key.field <= 3) {
        const name = ["values", "crow_indices", "col_indices"][key.field - 1]!
        sparse.expect(key, WireType.lengthDelimited, name)
        const bytes = sparse.bytesField(name)
        if (key.field === 1) values = bytes
        else if (key.field === 2) rowPointers = bytes
        else columns = bytes
      } else sparse.skip(key)
    }
    data = densifyCsr(
      reader,
      readValues(values, dtype, sparse, "values"),
      readValues(rowPointers, DType.int64, sparse, "crow_indices"),
      readValues(columns, DType.int64, sparse, "col_indices"),
      shape
    )
  } else data = dense === undefined ? [] : readValues(dense, dtype, reader, "dense")
  if (shape.length === 0) return { data, dtype: publicType }
  if (product(shape) !== data.length) {
    throw reader.fail(`shape [${shape.join(", ")}] does not hold ${data.length} values`, "shape")
  }
  return { data, dtype: publicType, shape }
}

const readChunk = (reader: ProtoReader): ModelInputChunk => {
  let chunk: ModelInputChunk | undefined
  for (let key = reader.next(); key !== undefined; key = reader.next()) {
    switch (key.field) {
      case 1: {
        const text = nested(reader, key, "encoded_text", `${reader.path}.encoded_text`)
        let tokens: Array<number> = []
        for (let tag = text.next(); tag !== undefined; tag = text.next()) {
          if (tag.field === 1) {
            text.expect(tag, WireType.lengthDelimited, "tokens")
            tokens = readValues(text.bytesField("tokens"), DType.int32, text, "tokens")
          } else text.skip(tag)
        }
        chunk = { type: "encoded_text", tokens }
        break
      }
      case 2:
      case 3:
        throw reader.fail(`${key.field === 2 ? "image" : "dmel"} chunks are not supported (sous reads encoded_text and float_tensor chunks)`)
      case 15: {
        const tensor = nested(reader, key, "float_tensor", `${reader.path}.float_tensor`)
        let data: Array<number> = []
        const shape: Array<number> = []
        for (let tag = tensor.next(); tag !== undefined; tag = tensor.next()) {
          if (tag.field === 1) {
            tensor.expect(tag, WireType.lengthDelimited, "data")
            data = readValues(tensor.bytesField("data"), DType.float32, tensor, "data")
          } else if (tag.field === 2) tensor.repeatedInt64(tag, "shape", shape)
          else tensor.skip(tag)
        }
        checkDims(tensor, shape, "shape")
        if (product(shape) !== data.length) {
          throw tensor.fail(`shape [${shape.join(", ")}] does not hold ${data.length} values`, "shape")
        }
        chunk = { type: "float_tensor", data, shape }
        break
      }
      default:
        reader.skip(key)
    }
  }
  if (chunk === undefined) throw reader.fail("the chunk is empty (expected encoded_text or float_tensor)")
  return chunk
}

const readDatum = (reader: ProtoReader): Datum => {
  const chunks: Array<ModelInputChunk> = []
  const inputs = new Map<string, TensorData>()
  for (let key = reader.next(); key !== undefined; key = reader.next()) {
    if (key.field === 1) {
      chunks.push(readChunk(nested(reader, key, "model_input", `${reader.path}.model_input[${chunks.length}]`)))
    } else if (key.field === 2) {
      const { name, value } = readMessageEntry(nested(reader, key, "loss_fn_inputs", `${reader.path}.loss_fn_inputs`))
      inputs.set(name, readTensor(new ProtoReader(value, `${reader.path}.loss_fn_inputs[${JSON.stringify(name)}]`)))
    } else reader.skip(key)
  }
  return { model_input: { chunks }, loss_fn_inputs: record(inputs) }
}

/** Parses a forward/backward request; throws {@link ProtoDecodeError}. */
export const decodeForwardBackwardRequest = (bytes: Uint8Array): ForwardBackwardRequestMessage => {
  const reader = new ProtoReader(bytes, "ForwardBackwardRequest")
  let model_id = ""
  let seq_id = 0
  const data: Array<Datum> = []
  let loss_fn = ""
  const config = new Map<string, number>()
  let forward_only = false
  for (let key = reader.next(); key !== undefined; key = reader.next()) {
    switch (key.field) {
      case 1:
        reader.expect(key, WireType.lengthDelimited, "model_id")
        model_id = reader.string("model_id")
        break
      case 2:
        reader.expect(key, WireType.varint, "seq_id")
        seq_id = reader.int32("seq_id")
        break
      case 3:
        data.push(readDatum(nested(reader, key, "data", `ForwardBackwardRequest.data[${data.length}]`)))
        break
      case 4:
        reader.expect(key, WireType.lengthDelimited, "loss_fn")
        loss_fn = reader.string("loss_fn")
        break
      case 5: {
        reader.expect(key, WireType.lengthDelimited, "loss_fn_config")
        const [name, value] = readDoubleEntry(reader, "loss_fn_config")
        config.set(name, value)
        break
      }
      case 6:
        reader.expect(key, WireType.varint, "forward_only")
        forward_only = reader.bool("forward_only")
        break
      default:
        reader.skip(key)
    }
  }
  return { model_id, seq_id, data, loss_fn, loss_fn_config: record(config), forward_only }
}

// ---------------------------------------------------------------------------------------------
// ForwardBackwardOutput

type LossFnOutput = ForwardBackwardOutput["loss_fn_outputs"][number]

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

const writeBatchedTensor = (writer: ProtoWriter, tensors: ReadonlyArray<TensorData>, firstIndex: number, name: string): void => {
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
  writer.bytes(1, data)
  writer.bytes(2, int64Bytes(offsets, `loss_fn_outputs.${name} offsets`))
  writer.int(3, wireDtype(first.dtype))
  writer.packedInts(4, trailingShape(first))
}

const writeArrayRecord = (writer: ProtoWriter, outputs: ReadonlyArray<LossFnOutput>, firstIndex: number): void => {
  for (const name of Object.keys(outputs[0]!)) {
    writer.message(2, (entry) => {
      entry.string(1, name)
      entry.message(2, (inner) => writeBatchedTensor(inner, outputs.map((output) => output[name]!), firstIndex, name))
    })
  }
  writer.int(3, outputs.length)
}

/**
 * Serializes a forward/backward output. Its per-datum outputs go in one batched record when
 * every datum has the same fields, dtypes and trailing shapes, else in one record per datum.
 * A 1-D output is sent without a trailing shape, so it decodes without `shape`.
 */
export const encodeForwardBackwardOutput = (output: ForwardBackwardOutput): Uint8Array => {
  const writer = new ProtoWriter()
  if (output.loss_fn_output_type !== "") writer.string(1, output.loss_fn_output_type)
  const outputs = output.loss_fn_outputs
  if (outputs.length > 0) {
    if (batchable(outputs)) writer.message(2, (inner) => writeArrayRecord(inner, outputs, 0))
    else outputs.forEach((one, index) => writer.message(2, (inner) => writeArrayRecord(inner, [one], index)))
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

const readBatchedTensor = (reader: ProtoReader, name: string): BatchedField => {
  let data: Uint8Array = new Uint8Array(0)
  let offsetBytes: Uint8Array = new Uint8Array(0)
  let dtype = 0
  const trailing: Array<number> = []
  for (let key = reader.next(); key !== undefined; key = reader.next()) {
    switch (key.field) {
      case 1:
        reader.expect(key, WireType.lengthDelimited, "data")
        data = reader.bytesField("data")
        break
      case 2:
        reader.expect(key, WireType.lengthDelimited, "offsets")
        offsetBytes = reader.bytesField("offsets")
        break
      case 3:
        reader.expect(key, WireType.varint, "dtype")
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

const readArrayRecord = (reader: ProtoReader): Array<LossFnOutput> => {
  const fields: Array<BatchedField> = []
  let declared = 0
  for (let key = reader.next(); key !== undefined; key = reader.next()) {
    if (key.field === 2) {
      const { name, value } = readMessageEntry(nested(reader, key, "fields", `${reader.path}.fields`))
      const field = readBatchedTensor(new ProtoReader(value, `${reader.path}.fields[${JSON.stringify(name)}]`), name)
      const existing = fields.findIndex((other) => other.name === name)
      if (existing >= 0) fields[existing] = field
      else fields.push(field)
    } else if (key.field === 3) {
      reader.expect(key, WireType.varint, "num_datums")
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
  const reader = new ProtoReader(bytes, "ForwardBackwardOutput")
  let type = ""
  const outputs: Array<LossFnOutput> = []
  const metrics = new Map<string, number>()
  let records = 0
  for (let key = reader.next(); key !== undefined; key = reader.next()) {
    switch (key.field) {
      case 1:
        reader.expect(key, WireType.lengthDelimited, "loss_fn_output_type")
        type = reader.string("loss_fn_output_type")
        break
      case 2:
        outputs.push(...readArrayRecord(nested(reader, key, "loss_fn_outputs", `ForwardBackwardOutput.loss_fn_outputs[${records++}]`)))
        break
      case 3: {
        reader.expect(key, WireType.lengthDelimited, "metrics")
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

// ---------------------------------------------------------------------------------------------
// SampleResponse

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
