/**
 * What the `tinker_public` message codecs share: little-endian number arrays, tensor dtypes
 * and shapes, and the map entries protobuf encodes maps as.
 */
import { ProtobufWriter } from "effect/protobuf"
import type {
  TensorData,
  TensorDtype
} from "../ports/index.js"
import type { FieldKey, MessageReader } from "./proto-reader.js"
import { writeMessage } from "./proto-writer.js"

const { I64, Len } = ProtobufWriter.WireType

// tinker_public.DType
export const DType = { float32: 1, int64: 2, int32: 3, bfloat16: 4 } as const

export const twoTo32 = 4294967296
export const int32Min = -(2 ** 31)
export const int32Max = 2 ** 31 - 1

// ---------------------------------------------------------------------------------------------
// Little-endian number arrays (DataView, so the byte order holds on any host)

export const float32Bytes = (values: ReadonlyArray<number | null>): Uint8Array => {
  const bytes = new Uint8Array(values.length * 4)
  const view = new DataView(bytes.buffer)
  values.forEach((value, index) => view.setFloat32(index * 4, value ?? Number.NaN, true))
  return bytes
}

export const int32Bytes = (values: ReadonlyArray<number>, what: string): Uint8Array => {
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

export const int64Bytes = (values: ReadonlyArray<number>, what: string): Uint8Array => {
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

export const scratch = new DataView(new ArrayBuffer(4))

export const itemSizes: Readonly<Record<number, number>> = {
  [DType.float32]: 4,
  [DType.int64]: 8,
  [DType.int32]: 4,
  [DType.bfloat16]: 2
}

export const dtypeNames: Readonly<Record<number, string>> = {
  [DType.float32]: "float32",
  [DType.int64]: "int64",
  [DType.int32]: "int32",
  [DType.bfloat16]: "bfloat16"
}

/**
 * Reads `bytes` as values of a wire dtype. int32 widens to int64 and bfloat16 to float32, as
 * the SDK does, since the public tensors are float32 or int64.
 */
export const readValues = (bytes: Uint8Array, dtype: number, reader: MessageReader, field: string): Array<number> => {
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

export const product = (shape: ReadonlyArray<number>): number => shape.reduce((total, size) => total * size, 1)

/** Refuses a negative dimension (two of them would multiply to a plausible size). */
export const checkDims = (reader: MessageReader, shape: ReadonlyArray<number>, field: string): void => {
  if (shape.some((size) => size < 0)) throw reader.fail(`shape [${shape.join(", ")}] has a negative dimension`, field)
}

// A sparse tensor expands to at most this many values: its shape comes off the wire, and a
// few bytes must not be able to ask for gigabytes.
export const maxDenseValues = 2 ** 24

/** The public dtype of a wire dtype, or a decode error for an unknown one. */
export const publicDtype = (dtype: number, reader: MessageReader): TensorDtype => {
  if (dtype === DType.float32 || dtype === DType.bfloat16) return "float32"
  if (dtype === DType.int64 || dtype === DType.int32) return "int64"
  throw reader.fail(dtype === 0 ? "dtype is missing (DTYPE_UNSPECIFIED)" : `unknown dtype ${dtype}`, "dtype")
}

export const wireDtype = (dtype: TensorDtype): number => (dtype === "float32" ? DType.float32 : DType.int64)

export const tensorBytes = (tensor: TensorData, what: string): Uint8Array =>
  tensor.dtype === "float32" ? float32Bytes(tensor.data) : int64Bytes(tensor.data, what)

export const checkShape = (tensor: TensorData, what: string): void => {
  if (tensor.shape !== undefined && product(tensor.shape) !== tensor.data.length) {
    throw new RangeError(`${what}: shape [${tensor.shape.join(", ")}] does not hold ${tensor.data.length} values`)
  }
}

/** Builds a record from wire keys; `fromEntries` keeps a key such as `__proto__` an own property. */
export const record = <A>(entries: Map<string, A>): Record<string, A> => Object.fromEntries(entries)

/** Reads a `map<string, double>` entry. */
export const readDoubleEntry = (reader: MessageReader, field: string): readonly [string, number] => {
  const entry = reader.message(field, `${reader.path}.${field}`)
  let key = ""
  let value = 0
  for (let tag = entry.next(); tag !== undefined; tag = entry.next()) {
    if (tag.field === 1) {
      entry.expect(tag, Len, "key")
      key = entry.string("key")
    } else if (tag.field === 2) {
      entry.expect(tag, I64, "value")
      value = entry.double("value")
    } else entry.skip(tag)
  }
  return [key, value]
}

/** Writes a `map<string, double>`: one entry message per key, key and value always written. */
export const writeDoubleMap = (writer: ProtobufWriter.ProtobufWriter, field: number, values: Readonly<Record<string, number>>): void => {
  for (const [key, value] of Object.entries(values)) {
    writeMessage(writer, field, (entry) => entry.tag(1, Len).string(key).tag(2, I64).double(value))
  }
}

/** Reads a repeated-message field's reader after checking its wire type. */
export const nested = (reader: MessageReader, key: FieldKey, field: string, path: string): MessageReader => {
  reader.expect(key, Len, field)
  return reader.message(field, path)
}

/**
 * One entry of a `map<string, Message>`: its key and the value's bytes. The key may follow the
 * value on the wire, so the caller reads the value once both are known.
 */
export const readMessageEntry = (entry: MessageReader): { readonly name: string; readonly value: Uint8Array } => {
  let name = ""
  let value: Uint8Array = new Uint8Array(0)
  for (let tag = entry.next(); tag !== undefined; tag = entry.next()) {
    if (tag.field === 1) {
      entry.expect(tag, Len, "key")
      name = entry.string("key")
    } else if (tag.field === 2) {
      entry.expect(tag, Len, "value")
      value = entry.bytesField("value")
    } else entry.skip(tag)
  }
  return { name, value }
}

