/**
 * Reads the fields of one protobuf message for the `tinker_public` codecs, and says in every
 * error which message and field is broken.
 *
 * The wire work (tags, varints, fixed-width numbers, length-delimited fields) is effect's
 * `ProtobufReader`, from `effect/protobuf`: it ships in the effect release sous already pins,
 * is a public export, and both reads and writes the wire format, so sous needs no second
 * protobuf library (the module is marked experimental; the exact effect pin keeps it still).
 * What this module adds is sous's error contract: effect reports an offset, sous reports
 * `ForwardBackwardRequest.data[2].loss_fn_inputs["w"].dense: ...`.
 */
import { ProtobufReader } from "effect/protobuf"

/** Why bytes are not the message they claim to be; the message names the message and field. */
export class ProtoDecodeError extends Error {
  override readonly name = "ProtoDecodeError"
}

const { Varint, I64, Len, StartGroup, EndGroup, I32 } = ProtobufReader.WireType

const wireTypeNames: Readonly<Record<number, string>> = {
  [Varint]: "varint",
  [I64]: "fixed64",
  [Len]: "length-delimited",
  [StartGroup]: "start-group",
  [EndGroup]: "end-group",
  [I32]: "fixed32"
}

const wireTypeName = (wireType: number): string => wireTypeNames[wireType] ?? String(wireType)

// The protobuf limits behind the error messages: a varint is at most 10 bytes, and a field
// key or a length prefix, being 32-bit values, at most 5.
const maxVarintBytes = 10
const max32BitVarintBytes = 5

/** One field key read from the wire. */
export interface FieldKey {
  /** The raw tag, which skipping the field needs. */
  readonly tag: number
  readonly field: number
  readonly wireType: number
}

/**
 * Reads the fields of one message. `path` names the message (`Datum`, `data[2]`, ...) in
 * every error, so a caller learns which part of a large request is broken.
 */
export class MessageReader {
  private readonly reader: ProtobufReader.ProtobufReader

  constructor(
    private readonly bytes: Uint8Array,
    readonly path: string
  ) {
    this.reader = ProtobufReader.make(bytes)
  }

  /** A decode error at this message, or at one of its fields. */
  fail(message: string, field?: string): ProtoDecodeError {
    return new ProtoDecodeError(`${field === undefined ? this.path : `${this.path}.${field}`}: ${message}`)
  }

  /** The next field key, or undefined at the end of the message. */
  next(): FieldKey | undefined {
    if (this.reader.isDone()) return undefined
    const tag = this.guard(() => this.reader.tag(), (start) => this.keyProblem(start))
    return { tag, field: ProtobufReader.fieldNumber(tag), wireType: ProtobufReader.wireType(tag) }
  }

  /** Checks the wire type of a known field. */
  expect(key: FieldKey, wireType: number, field: string): void {
    if (key.wireType !== wireType) {
      throw this.fail(`wire type ${wireTypeName(key.wireType)}, expected ${wireTypeName(wireType)}`, field)
    }
  }

  /** A signed int32 varint (the low 32 bits, as protobuf decoders read it). */
  int32(field: string): number {
    return this.guard(() => this.reader.int32(), (start) => this.varintProblem(start), field)
  }

  /** A signed int64 varint that must fit a safe integer. */
  int64(field: string): number {
    const value = this.guard(() => this.reader.int64Number(), (start) => this.varintProblem(start), field)
    if (!Number.isSafeInteger(value)) throw this.fail(`value ${value} is outside the safe integer range`, field)
    return value
  }

  /** A bool varint. */
  bool(field: string): boolean {
    return this.guard(() => this.reader.bool(), (start) => this.varintProblem(start), field)
  }

  /** A little-endian double. */
  double(field: string): number {
    return this.guard(() => this.reader.double(), () => "truncated double", field)
  }

  /** The bytes of a length-delimited field (a view, not a copy). */
  bytesField(field: string): Uint8Array {
    return this.guard(() => this.reader.bytesView(), (start) => this.lengthProblem(start) ?? "malformed length prefix", field)
  }

  /**
   * A UTF-8 string field. Invalid UTF-8 is refused, not mangled (a garbled model id must not
   * pass); a leading byte order mark is kept, as protobuf strings are text, not files.
   */
  string(field: string): string {
    return this.guard(() => this.reader.string(), (start) => this.lengthProblem(start) ?? "is not valid UTF-8", field)
  }

  /** A reader over a nested message field. */
  message(field: string, path: string): MessageReader {
    return new MessageReader(this.bytesField(field), path)
  }

  /** Repeated int64 values, packed (length-delimited) or one per key, as proto3 parsers accept both. */
  repeatedInt64(key: FieldKey, field: string, into: Array<number>): void {
    if (key.wireType === Varint) {
      into.push(this.int64(field))
      return
    }
    this.expect(key, Len, field)
    const packed = this.message(field, `${this.path}.${field}`)
    while (!packed.done()) into.push(packed.int64("packed value"))
  }

  /** Whether every byte has been read. */
  done(): boolean {
    return this.reader.isDone()
  }

  /** Skips a field this reader does not know (newer senders may add fields). Groups are refused. */
  skip(key: FieldKey): void {
    const field = `field ${key.field}`
    if (key.wireType === StartGroup || key.wireType === EndGroup) {
      throw this.fail(`unsupported wire type ${wireTypeName(key.wireType)} (garbage bytes?)`, field)
    }
    this.guard(() => this.reader.skip(key.tag), (start) => {
      if (key.wireType === Varint) return this.varintProblem(start)
      if (key.wireType === Len) return this.lengthProblem(start) ?? "malformed length prefix"
      return "truncated value"
    }, field)
  }

  // Runs one read of effect's reader. Its ProtobufReaderError carries only an offset, so it
  // becomes a ProtoDecodeError naming the field and saying what was wrong with the value
  // that starts at `start`. Other errors pass through untouched.
  private guard<A>(read: () => A, problem: (start: number) => string | ProtoDecodeError, field?: string): A {
    const start = this.reader.offset
    try {
      return read()
    } catch (error) {
      if (!(error instanceof ProtobufReader.ProtobufReaderError)) throw error
      const found = problem(start)
      throw typeof found === "string" ? this.fail(found, field) : found
    }
  }

  // A varint read fails only by running out of bytes or by passing 10 bytes, and with 10
  // bytes left it cannot run out.
  private varintProblem(start: number): string {
    return this.bytes.length - start >= maxVarintBytes ? "varint longer than 10 bytes" : "truncated varint"
  }

  // Why the field key at `start` was refused, found by reading it again as a plain varint.
  private keyProblem(start: number): ProtoDecodeError {
    const again = ProtobufReader.make(this.bytes.subarray(start))
    let key: number
    try {
      key = again.uint64Number()
    } catch {
      return this.fail(this.varintProblem(start), "field key")
    }
    if (key > 0xffffffff) return this.fail(`${key} is larger than 32 bits (garbage bytes?)`, "field key")
    const field = ProtobufReader.fieldNumber(key)
    if (field === 0) return this.fail("field number 0 is not valid (garbage or truncated bytes?)")
    const wireType = ProtobufReader.wireType(key)
    if (wireType > I32) return this.fail(`unsupported wire type ${wireType} (garbage bytes?)`, `field ${field}`)
    return this.fail(`${again.offset} bytes long (a key takes at most ${max32BitVarintBytes})`, "field key")
  }

  // Why the length prefix at `start` was refused, read again as a plain varint; undefined
  // when the prefix is sound (then the value after it was the problem).
  private lengthProblem(start: number): string | undefined {
    const again = ProtobufReader.make(this.bytes.subarray(start))
    let length: number
    try {
      length = again.uint64Number()
    } catch {
      return this.varintProblem(start)
    }
    if (start + again.offset + length > this.bytes.length) {
      return `length ${length} runs past the end of the message (truncated bytes?)`
    }
    if (again.offset > max32BitVarintBytes) {
      return `length prefix of ${again.offset} bytes (a length takes at most ${max32BitVarintBytes})`
    }
    return undefined
  }
}
