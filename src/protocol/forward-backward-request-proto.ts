/**
 * `tinker_public.ForwardBackwardRequest`, the protobuf body of `/forward_backward`. sous adds
 * one field, Chunk 15 `FloatTensorChunk{data = 1 (float32 LE bytes), shape = 2 (packed int64)}`,
 * for its `float_tensor` chunks; other decoders skip it.
 */
import { ProtobufWriter } from "effect/protobuf"
import type {
  Datum,
  ModelInputChunk,
  TensorData
} from "../ports/index.js"
import { MessageReader, ProtoDecodeError } from "./proto-reader.js"
import { writeMessage, writePackedInt64 } from "./proto-writer.js"
import { DType, checkDims, checkShape, float32Bytes, int32Bytes, int32Max, int32Min, maxDenseValues, nested, product, publicDtype, readDoubleEntry, readMessageEntry, readValues, record, tensorBytes, wireDtype, writeDoubleMap } from "./proto-values.js"

/** A forward/backward (or forward-only) request: `tinker_public.ForwardBackwardRequest`. */
export interface ForwardBackwardRequestMessage {
  readonly model_id: string
  readonly seq_id: number
  readonly data: ReadonlyArray<Datum>
  readonly loss_fn: string
  readonly loss_fn_config: Readonly<Record<string, number>>
  readonly forward_only: boolean
}

const { Len, Varint } = ProtobufWriter.WireType

type Writer = ProtobufWriter.ProtobufWriter

const writeTensor = (writer: Writer, tensor: TensorData, what: string): void => {
  checkShape(tensor, what)
  // Always written, even empty: `dense` is a oneof, and its presence says the tensor is dense.
  writer.tag(1, Len).bytes(tensorBytes(tensor, what))
  writer.tag(3, Varint).int32(wireDtype(tensor.dtype))
  if (tensor.shape !== undefined) writePackedInt64(writer, 4, tensor.shape, what)
}

const writeChunk = (writer: Writer, chunk: ModelInputChunk, what: string): void => {
  if (chunk.type === "encoded_text") {
    writeMessage(writer, 1, (text) => {
      if (chunk.tokens.length > 0) text.tag(1, Len).bytes(int32Bytes(chunk.tokens, what))
    })
  } else {
    writeMessage(writer, 15, (tensor) => {
      if (chunk.data.length > 0) tensor.tag(1, Len).bytes(float32Bytes(chunk.data))
      writePackedInt64(tensor, 2, chunk.shape, what)
    })
  }
}

const writeDatum = (writer: Writer, datum: Datum, what: string): void => {
  datum.model_input.chunks.forEach((chunk, index) =>
    writeMessage(writer, 1, (inner) => writeChunk(inner, chunk, `${what}.model_input[${index}]`))
  )
  for (const [key, tensor] of Object.entries(datum.loss_fn_inputs)) {
    writeMessage(writer, 2, (entry) => {
      entry.tag(1, Len).string(key)
      writeMessage(entry, 2, (inner) => writeTensor(inner, tensor, `${what}.loss_fn_inputs.${key}`))
    })
  }
}

/** Serializes a forward/backward request; throws a `RangeError` for a value the wire cannot carry. */
export const encodeForwardBackwardRequest = (message: ForwardBackwardRequestMessage): Uint8Array => {
  if (!Number.isInteger(message.seq_id) || message.seq_id < int32Min || message.seq_id > int32Max) {
    throw new RangeError(`seq_id: ${message.seq_id} is not an int32`)
  }
  const writer = ProtobufWriter.make()
  if (message.model_id !== "") writer.tag(1, Len).string(message.model_id)
  if (message.seq_id !== 0) writer.tag(2, Varint).int32(message.seq_id)
  message.data.forEach((datum, index) => writeMessage(writer, 3, (inner) => writeDatum(inner, datum, `data[${index}]`)))
  if (message.loss_fn !== "") writer.tag(4, Len).string(message.loss_fn)
  writeDoubleMap(writer, 5, message.loss_fn_config)
  if (message.forward_only) writer.tag(6, Varint).bool(true)
  return writer.finish()
}

/** Expands a CSR matrix (values, row pointers, column indices) of `shape` into dense row-major data. */
const densifyCsr = (
  reader: MessageReader,
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

const readTensor = (reader: MessageReader): TensorData => {
  let dense: Uint8Array | undefined
  let sparse: MessageReader | undefined
  let dtype = 0
  const shape: Array<number> = []
  for (let key = reader.next(); key !== undefined; key = reader.next()) {
    switch (key.field) {
      case 1:
        reader.expect(key, Len, "dense")
        dense = reader.bytesField("dense")
        sparse = undefined
        break
      case 2:
        sparse = nested(reader, key, "sparse_csr", `${reader.path}.sparse_csr`)
        dense = undefined
        break
      case 3:
        reader.expect(key, Varint, "dtype")
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
        sparse.expect(key, Len, name)
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

const readChunk = (reader: MessageReader): ModelInputChunk => {
  let chunk: ModelInputChunk | undefined
  for (let key = reader.next(); key !== undefined; key = reader.next()) {
    switch (key.field) {
      case 1: {
        const text = nested(reader, key, "encoded_text", `${reader.path}.encoded_text`)
        let tokens: Array<number> = []
        for (let tag = text.next(); tag !== undefined; tag = text.next()) {
          if (tag.field === 1) {
            text.expect(tag, Len, "tokens")
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
            tensor.expect(tag, Len, "data")
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

const readDatum = (reader: MessageReader): Datum => {
  const chunks: Array<ModelInputChunk> = []
  const inputs = new Map<string, TensorData>()
  for (let key = reader.next(); key !== undefined; key = reader.next()) {
    if (key.field === 1) {
      chunks.push(readChunk(nested(reader, key, "model_input", `${reader.path}.model_input[${chunks.length}]`)))
    } else if (key.field === 2) {
      const { name, value } = readMessageEntry(nested(reader, key, "loss_fn_inputs", `${reader.path}.loss_fn_inputs`))
      inputs.set(name, readTensor(new MessageReader(value, `${reader.path}.loss_fn_inputs[${JSON.stringify(name)}]`)))
    } else reader.skip(key)
  }
  return { model_input: { chunks }, loss_fn_inputs: record(inputs) }
}

/** Parses a forward/backward request; throws {@link ProtoDecodeError}. */
export const decodeForwardBackwardRequest = (bytes: Uint8Array): ForwardBackwardRequestMessage => {
  const reader = new MessageReader(bytes, "ForwardBackwardRequest")
  let model_id = ""
  let seq_id = 0
  const data: Array<Datum> = []
  let loss_fn = ""
  const config = new Map<string, number>()
  let forward_only = false
  for (let key = reader.next(); key !== undefined; key = reader.next()) {
    switch (key.field) {
      case 1:
        reader.expect(key, Len, "model_id")
        model_id = reader.string("model_id")
        break
      case 2:
        reader.expect(key, Varint, "seq_id")
        seq_id = reader.int32("seq_id")
        break
      case 3:
        data.push(readDatum(nested(reader, key, "data", `ForwardBackwardRequest.data[${data.length}]`)))
        break
      case 4:
        reader.expect(key, Len, "loss_fn")
        loss_fn = reader.string("loss_fn")
        break
      case 5: {
        reader.expect(key, Len, "loss_fn_config")
        const [name, value] = readDoubleEntry(reader, "loss_fn_config")
        config.set(name, value)
        break
      }
      case 6:
        reader.expect(key, Varint, "forward_only")
        forward_only = reader.bool("forward_only")
        break
      default:
        reader.skip(key)
    }
  }
  return { model_id, seq_id, data, loss_fn, loss_fn_config: record(config), forward_only }
}

/** Which model a request is for, and its place in that model's order. */
export interface ForwardBackwardTurn {
  readonly model_id: string
  readonly seq_id: number
}

/**
 * The model_id (field 1) and seq_id (field 2) of a forward/backward request that
 * {@link decodeForwardBackwardRequest} refuses, read leniently: other fields are skipped
 * unread, and reading stops at the first broken field, keeping what came before it (the SDK
 * writes these two first). A request refused for its data (an image chunk, say) can so still
 * take its turn in the model's order. Undefined when either is missing or unreadable.
 */
export const readForwardBackwardTurn = (bytes: Uint8Array): ForwardBackwardTurn | undefined => {
  const reader = new MessageReader(bytes, "ForwardBackwardRequest")
  let model_id: string | undefined
  let seq_id: number | undefined
  try {
    for (let key = reader.next(); key !== undefined; key = reader.next()) {
      if (key.field === 1 && key.wireType === Len) model_id = reader.string("model_id")
      else if (key.field === 2 && key.wireType === Varint) seq_id = reader.int32("seq_id")
      else reader.skip(key)
    }
  } catch (error) {
    // A broken field ends the reading; the fields before it stand.
    if (!(error instanceof ProtoDecodeError)) throw error
  }
  return model_id === undefined || seq_id === undefined ? undefined : { model_id, seq_id }
}
