import { Effect, Schema } from "effect"
import { narrow16, widen16 } from "./half-float.js"

// The safetensors format: an 8-byte little-endian length N, N bytes of JSON header
// ({name: {dtype, shape, data_offsets: [begin, end]}} and an optional "__metadata__" map of
// strings), then the tensors' bytes, little-endian and row-major. Offsets count from the end
// of the header; the tensors must tile the buffer exactly, in header offset order.
// Typed arrays here use the host's byte order: little-endian, as on every platform that
// TensorFlow.js runs on.

/** The element types sous reads: the float types of language-model checkpoints. */
export type SafeDtype = "F32" | "F16" | "BF16"

/** One tensor of a safetensors file, its values as float32 whatever type the file stores. */
export interface SafeTensor {
  /** The type the file stores, so writing the tensor back keeps it. */
  readonly dtype: SafeDtype
  /** Row-major dimensions; `[]` for a scalar. */
  readonly shape: ReadonlyArray<number>
  /** The elements, F16 and BF16 widened exactly; as many as the product of `shape`. */
  readonly values: Float32Array
}

/** What a safetensors file holds: its tensors, in file order, and its `__metadata__` strings. */
export interface SafetensorsContents {
  readonly tensors: ReadonlyMap<string, SafeTensor>
  readonly metadata: Readonly<Record<string, string>> | undefined
}

/** A safetensors file that cannot be read: `source` names the file and `tensor` the entry at fault. */
export class SafetensorsError extends Schema.TaggedError<SafetensorsError>()("SafetensorsError", {
  source: Schema.String,
  tensor: Schema.optionalKey(Schema.String),
  message: Schema.String
}) {}

const bytesPerElement: Record<SafeDtype, number> = { F32: 4, F16: 2, BF16: 2 }

// The types safetensors defines that sous does not read: named in the refusal, so a reader
// can tell an integer buffer or an FP8 checkpoint from a damaged file.
const knownUnsupported = new Set([
  "BOOL", "U8", "I8", "I16", "U16", "I32", "U32", "I64", "U64", "F64", "C64",
  "F4", "F6_E2M3", "F6_E3M2", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ"
])

// The reference implementation refuses headers larger than this.
const maxHeaderBytes = 100_000_000

// Lengths and offsets are JSON numbers; above 2^53 they are no longer exact.
const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

interface Entry {
  readonly name: string
  readonly dtype: SafeDtype
  readonly shape: ReadonlyArray<number>
  readonly begin: number
  readonly end: number
}

const tensorError = (source: string, tensor: string, problem: string) =>
  new SafetensorsError({ source, tensor, message: `${source}: tensor ${JSON.stringify(tensor)} ${problem}` })

const decodeEntry = (source: string, name: string, info: unknown): Effect.Effect<Entry, SafetensorsError> =>
  Effect.gen(function*() {
    const fail = (problem: string) => tensorError(source, name, problem)
    if (!isObject(info)) return yield* fail("is not described by a JSON object")
    const { data_offsets: offsets, dtype, shape } = info
    if (typeof dtype !== "string") return yield* fail("has no dtype")
    if (dtype !== "F32" && dtype !== "F16" && dtype !== "BF16") {
      return yield* fail(
        knownUnsupported.has(dtype)
          ? `has dtype ${dtype}, which is not supported (only F32, F16 and BF16 are)`
          : `has unknown dtype ${JSON.stringify(dtype)}`
      )
    }
    if (!Array.isArray(shape) || !shape.every(isCount)) return yield* fail("has a shape that is not a list of non-negative integers")
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      return yield* fail("has data_offsets that are not two non-negative integers")
    }
    const [begin, end] = offsets as [number, number]
    const elements = shape.reduce((product: number, size: number) => product * size, 1)
    if (end < begin || end - begin !== elements * bytesPerElement[dtype]) {
      return yield* fail(`has data_offsets [${begin}, ${end}], which do not hold shape [${shape.join(", ")}] of ${dtype}`)
    }
    return { name, dtype, shape, begin, end }
  })

const decodeMetadata = (source: string, metadata: unknown): Effect.Effect<Record<string, string>, SafetensorsError> =>
  isObject(metadata) && Object.values(metadata).every((value) => typeof value === "string")
    ? Effect.succeed(metadata as Record<string, string>)
    : Effect.fail(new SafetensorsError({ source, message: `${source}: __metadata__ is not a map of strings to strings` }))

const valuesOf = (bytes: Uint8Array, dtype: SafeDtype): Float32Array =>
  // A copy into a buffer of its own, so the float32 view starts aligned (by the constructor:
  // a Node Buffer's `slice` shares memory).
  dtype === "F32" ? new Float32Array(new Uint8Array(bytes).buffer) : widen16(bytes, dtype)

/**
 * Reads a safetensors file's bytes: every tensor, as float32 values, in file order, and the
 * `__metadata__` strings. Fails with a {@link SafetensorsError} naming `source` (and the
 * tensor, where one is at fault) when the header length runs past the file, the header is
 * not a JSON object, a tensor has a type other than F32, F16 or BF16, or the offsets are out
 * of order, overlap, leave gaps, run past the file, do not match shape and type, or leave
 * bytes at the end unaccounted for.
 */
export const decodeSafetensors = (bytes: Uint8Array, source: string): Effect.Effect<SafetensorsContents, SafetensorsError> =>
  Effect.gen(function*() {
    const fail = (message: string) => new SafetensorsError({ source, message: `${source}: ${message}` })
    if (bytes.length < 8) return yield* fail(`is ${bytes.length} bytes long, too short for the 8-byte header length`)
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const headerLength = view.getBigUint64(0, true)
    if (headerLength > BigInt(bytes.length - 8)) {
      return yield* fail(`declares a header of ${headerLength} bytes, past the end of the file (${bytes.length} bytes)`)
    }
    if (headerLength > maxHeaderBytes) return yield* fail(`declares a header of ${headerLength} bytes, more than the ${maxHeaderBytes} allowed`)
    const dataStart = 8 + Number(headerLength)
    const header = yield* Effect.try({
      try: () => JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, dataStart))) as unknown,
      catch: () => fail("has a header that is not UTF-8 JSON")
    })
    if (!isObject(header)) return yield* fail("has a header that is not a JSON object")

    let metadata: Record<string, string> | undefined
    const entries: Array<Entry> = []
    for (const [name, info] of Object.entries(header)) {
      if (name === "__metadata__") metadata = yield* decodeMetadata(source, info)
      else entries.push(yield* decodeEntry(source, name, info))
    }
    // The tensors must follow one another from offset 0 with no gap or overlap, and the last
    // must end where the file does, as the reference implementation requires.
    entries.sort((left, right) => left.begin - right.begin || left.end - right.end)
    let position = 0
    for (const entry of entries) {
      if (entry.begin !== position) {
        const problem = entry.begin < position ? "overlaps the tensor before it" : `leaves bytes ${position} to ${entry.begin} unaccounted for`
        return yield* tensorError(source, entry.name, problem)
      }
      if (dataStart + entry.end > bytes.length) {
        return yield* tensorError(source, entry.name, `ends at byte ${dataStart + entry.end}, past the end of the file (${bytes.length} bytes)`)
      }
      position = entry.end
    }
    if (dataStart + position !== bytes.length) {
      return yield* fail(`has ${bytes.length - dataStart - position} bytes after its last tensor that no tensor accounts for`)
    }
    const tensors = new Map<string, SafeTensor>()
    for (const { begin, dtype, end, name, shape } of entries) {
      tensors.set(name, { dtype, shape, values: valuesOf(bytes.subarray(dataStart + begin, dataStart + end), dtype) })
    }
    return { tensors, metadata }
  })

// Rust's ordering of names: by UTF-8 bytes, which JavaScript's `<` (UTF-16 units) is not.
const compareNames = (left: string, right: string) => Buffer.compare(Buffer.from(left), Buffer.from(right))

// The reference implementation orders tensors by dtype, descending in its enum's order
// (F16 < BF16 < F32, so F32 comes first), then by name.
const dtypeRank: Record<SafeDtype, number> = { F32: 0, BF16: 1, F16: 2 }

const jsonObject = (entries: ReadonlyArray<readonly [string, string]>) =>
  `{${entries.map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`).join(",")}}`

const bytesOf = (tensor: SafeTensor): Uint8Array =>
  tensor.dtype === "F32"
    ? new Uint8Array(tensor.values.buffer, tensor.values.byteOffset, tensor.values.byteLength)
    : narrow16(tensor.values, tensor.dtype)

/**
 * A safetensors file holding `tensors`, each in its own dtype: F16 and BF16 values are
 * rounded to nearest, ties to even, which changes nothing for values read from that type.
 * The layout is the one Hugging Face's library writes (tensors by descending alignment, then
 * name; compact JSON header with `__metadata__` first, padded with spaces to a multiple of 8
 * bytes), so a file it wrote and then read here is written back byte for byte, as long as
 * `metadata` keeps the order its keys had in the file.
 *
 * Throws a `RangeError` for a tensor whose values do not fill its shape, or one named
 * `__metadata__`: a caller's mistake, not a property of any file.
 */
export const encodeSafetensors = (
  tensors: ReadonlyMap<string, SafeTensor>,
  metadata?: Readonly<Record<string, string>>
): Uint8Array => {
  const ordered = [...tensors].sort(([leftName, left], [rightName, right]) =>
    dtypeRank[left.dtype] - dtypeRank[right.dtype] || compareNames(leftName, rightName)
  )
  // The header is built entry by entry: a JavaScript object would move keys that look like
  // integers ("0", "12") to the front.
  const entries: Array<string> = []
  if (metadata !== undefined) entries.push(`"__metadata__":${jsonObject(Object.entries(metadata))}`)
  const data: Array<Uint8Array> = []
  let offset = 0
  for (const [name, tensor] of ordered) {
    if (name === "__metadata__") throw new RangeError("a tensor cannot be named __metadata__ in a safetensors file")
    const elements = tensor.shape.reduce((product, size) => product * size, 1)
    if (tensor.values.length !== elements) {
      throw new RangeError(`tensor ${JSON.stringify(name)} has ${tensor.values.length} values for shape [${tensor.shape.join(", ")}]`)
    }
    const bytes = bytesOf(tensor)
    const info = { dtype: tensor.dtype, shape: tensor.shape, data_offsets: [offset, offset + bytes.length] }
    entries.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`)
    data.push(bytes)
    offset += bytes.length
  }
  const json = new TextEncoder().encode(`{${entries.join(",")}}`)
  const headerLength = Math.ceil(json.length / 8) * 8
  const file = new Uint8Array(8 + headerLength + offset)
  new DataView(file.buffer).setBigUint64(0, BigInt(headerLength), true)
  file.set(json, 8)
  file.fill(0x20, 8 + json.length, 8 + headerLength)
  let position = 8 + headerLength
  for (const bytes of data) {
    file.set(bytes, position)
    position += bytes.length
  }
  return file
}
