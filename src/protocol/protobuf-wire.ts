/**
 * A minimal protobuf (proto3) reader and writer: varints, fixed 32/64-bit values,
 * length-delimited fields and packed repeated integers. Just what the Tinker messages need;
 * the message layouts live in `proto-messages.ts`.
 */

/** Why bytes are not the message they claim to be; the message names the message and field. */
export class ProtoDecodeError extends Error {
  override readonly name = "ProtoDecodeError"
}

/** Protobuf wire types. */
export const WireType = {
  varint: 0,
  fixed64: 1,
  lengthDelimited: 2,
  fixed32: 5
} as const
export type WireType = (typeof WireType)[keyof typeof WireType]

const wireTypeNames: Readonly<Record<number, string>> = {
  0: "varint",
  1: "fixed64",
  2: "length-delimited",
  3: "start-group",
  4: "end-group",
  5: "fixed32"
}

const twoTo32 = 4294967296

const utf8Encoder = new TextEncoder()
// Fatal: proto3 strings must be valid UTF-8, and a garbled model id should be refused, not mangled.
const utf8Decoder = new TextDecoder("utf-8", { fatal: true })

/** Appends protobuf fields to a growing buffer. */
export class ProtoWriter {
  private buffer = new Uint8Array(256)
  private view = new DataView(this.buffer.buffer)
  private length = 0

  private reserve(extra: number): void {
    const needed = this.length + extra
    if (needed <= this.buffer.length) return
    let size = this.buffer.length * 2
    while (size < needed) size *= 2
    const grown = new Uint8Array(size)
    grown.set(this.buffer.subarray(0, this.length))
    this.buffer = grown
    this.view = new DataView(grown.buffer)
  }

  /** A raw varint of a non-negative safe integer, or a negative one as 64-bit two's complement. */
  varint(value: number): this {
    if (value < 0) return this.bigVarint(BigInt.asUintN(64, BigInt(value)))
    this.reserve(10)
    let rest = value
    while (rest >= 128) {
      this.buffer[this.length++] = (rest % 128) | 128
      rest = Math.floor(rest / 128)
    }
    this.buffer[this.length++] = rest
    return this
  }

  private bigVarint(value: bigint): this {
    this.reserve(10)
    let rest = value
    while (rest >= 128n) {
      this.buffer[this.length++] = Number(rest & 127n) | 128
      rest >>= 7n
    }
    this.buffer[this.length++] = Number(rest)
    return this
  }

  /** A field key: field number and wire type. */
  tag(field: number, wireType: WireType): this {
    return this.varint(field * 8 + wireType)
  }

  /** An integer field (int32, int64, uint32, enum) written as a varint. */
  int(field: number, value: number): this {
    return this.tag(field, WireType.varint).varint(value)
  }

  /** A bool field. */
  bool(field: number, value: boolean): this {
    return this.tag(field, WireType.varint).varint(value ? 1 : 0)
  }

  /** A double field (fixed64, little-endian). */
  double(field: number, value: number): this {
    this.tag(field, WireType.fixed64)
    this.reserve(8)
    this.view.setFloat64(this.length, value, true)
    this.length += 8
    return this
  }

  /** A bytes field. */
  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WireType.lengthDelimited).varint(value.length)
    this.reserve(value.length)
    this.buffer.set(value, this.length)
    this.length += value.length
    return this
  }

  /** A string field, UTF-8 encoded. */
  string(field: number, value: string): this {
    return this.bytes(field, utf8Encoder.encode(value))
  }

  /** A nested message field, built by `build` on a fresh writer. */
  message(field: number, build: (writer: ProtoWriter) => void): this {
    const inner = new ProtoWriter()
    build(inner)
    return this.bytes(field, inner.finish())
  }

  /** A packed repeated integer field (int64 shape lists); nothing when empty, as proto3 does. */
  packedInts(field: number, values: ReadonlyArray<number>): this {
    if (values.length === 0) return this
    const inner = new ProtoWriter()
    for (const value of values) inner.varint(value)
    return this.bytes(field, inner.finish())
  }

  /** The bytes written so far. */
  finish(): Uint8Array {
    return this.buffer.slice(0, this.length)
  }
}

/** One field key read from the wire. */
export interface FieldKey {
  readonly field: number
  readonly wireType: number
}

/**
 * Reads the fields of one message. `path` names the message (`Datum`, `data[2]`, ...) in
 * every error, so a caller learns which part of a large request is broken.
 */
export class ProtoReader {
  private position: number
  private readonly view: DataView

  constructor(
    private readonly bytes: Uint8Array,
    readonly path: string
  ) {
    this.position = 0
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  /** A decode error at this message, or at one of its fields. */
  fail(message: string, field?: string): ProtoDecodeError {
    return new ProtoDecodeError(`${field === undefined ? this.path : `${this.path}.${field}`}: ${message}`)
  }

  /** The next field key, or undefined at the end of the message. */
  next(): FieldKey | undefined {
    if (this.position >= this.bytes.length) return undefined
    const key = this.uint64("field key")
    const field = Math.floor(key / 8)
    const wireType = key % 8
    if (field === 0) throw this.fail("field number 0 is not valid (garbage or truncated bytes?)")
    return { field, wireType }
  }

  /** Checks the wire type of a known field. */
  expect(key: FieldKey, wireType: WireType, field: string): void {
    if (key.wireType !== wireType) {
      throw this.fail(`wire type ${wireTypeNames[key.wireType] ?? key.wireType}, expected ${wireTypeNames[wireType]}`, field)
    }
  }

  // The varint as two 32-bit halves, so 64-bit values keep every bit.
  private rawVarint(field: string): { readonly low: number; readonly high: number } {
    let low = 0
    let high = 0
    for (let index = 0; index < 10; index++) {
      if (this.position >= this.bytes.length) throw this.fail("truncated varint", field)
      const byte = this.bytes[this.position++]!
      const bits = byte & 127
      if (index < 4) low += bits * 2 ** (7 * index)
      else if (index === 4) {
        low += (bits & 15) * 2 ** 28
        high += bits >> 4
      } else high += bits * 2 ** (7 * index - 32)
      if (byte < 128) return { low, high: high % twoTo32 }
    }
    throw this.fail("varint longer than 10 bytes", field)
  }

  /** An unsigned varint that must fit a safe integer (lengths, keys, uint32, counts). */
  uint64(field: string): number {
    const { low, high } = this.rawVarint(field)
    const value = high * twoTo32 + low
    if (!Number.isSafeInteger(value)) throw this.fail(`value ${value} is too large`, field)
    return value
  }

  /** A signed int64 varint that must fit a safe integer. */
  int64(field: string): number {
    const { low, high } = this.rawVarint(field)
    const value = high >= 2 ** 31 ? (high - twoTo32) * twoTo32 + low : high * twoTo32 + low
    if (!Number.isSafeInteger(value)) throw this.fail(`value ${value} is outside the safe integer range`, field)
    return value
  }

  /** A signed int32 varint (the low 32 bits, as protobuf decoders read it). */
  int32(field: string): number {
    return this.rawVarint(field).low | 0
  }

  /** A bool varint. */
  bool(field: string): boolean {
    const { low, high } = this.rawVarint(field)
    return low !== 0 || high !== 0
  }

  /** A little-endian double. */
  double(field: string): number {
    if (this.position + 8 > this.bytes.length) throw this.fail("truncated double", field)
    const value = this.view.getFloat64(this.position, true)
    this.position += 8
    return value
  }

  /** The bytes of a length-delimited field (a view, not a copy). */
  bytesField(field: string): Uint8Array {
    const length = this.uint64(field)
    if (this.position + length > this.bytes.length) {
      throw this.fail(`length ${length} runs past the end of the message (truncated bytes?)`, field)
    }
    const value = this.bytes.subarray(this.position, this.position + length)
    this.position += length
    return value
  }

  /** A UTF-8 string field. */
  string(field: string): string {
    const raw = this.bytesField(field)
    try {
      return utf8Decoder.decode(raw)
    } catch {
      throw this.fail("is not valid UTF-8", field)
    }
  }

  /** A reader over a nested message field. */
  message(field: string, path: string): ProtoReader {
    return new ProtoReader(this.bytesField(field), path)
  }

  /** Repeated int64 values, packed (length-delimited) or one per key, as proto3 parsers accept both. */
  repeatedInt64(key: FieldKey, field: string, into: Array<number>): void {
    if (key.wireType === WireType.varint) {
      into.push(this.int64(field))
      return
    }
    this.expect(key, WireType.lengthDelimited, field)
    const packed = new ProtoReader(this.bytesField(field), `${this.path}.${field}`)
    while (!packed.done()) into.push(packed.int64("packed value"))
  }

  /** Whether every byte has been read. */
  done(): boolean {
    return this.position >= this.bytes.length
  }

  /** Skips a field this reader does not know (newer senders may add fields). */
  skip(key: FieldKey): void {
    const field = `field ${key.field}`
    switch (key.wireType) {
      case WireType.varint:
        this.rawVarint(field)
        return
      case WireType.fixed64:
        this.advance(8, field)
        return
      case WireType.lengthDelimited:
        this.bytesField(field)
        return
      case WireType.fixed32:
        this.advance(4, field)
        return
      default:
        throw this.fail(`unsupported wire type ${wireTypeNames[key.wireType] ?? key.wireType} (garbage bytes?)`, field)
    }
  }

  private advance(count: number, field: string): void {
    if (this.position + count > this.bytes.length) throw this.fail("truncated value", field)
    this.position += count
  }
}
