/**
 * The two field shapes the `tinker_public` encoders write that effect's `ProtobufWriter`
 * (`effect/protobuf`, chosen for the reasons in `proto-reader.ts`) leaves to its caller: a
 * nested message and a packed repeated int64. Every other field is a `tag` and a value.
 */
import { ProtobufWriter } from "effect/protobuf"

const { Len } = ProtobufWriter.WireType

/** Writes field `field` as a nested message whose fields `build` writes in place. */
export const writeMessage = (
  writer: ProtobufWriter.ProtobufWriter,
  field: number,
  build: (writer: ProtobufWriter.ProtobufWriter) => void
): void => {
  writer.tag(field, Len).fork()
  build(writer)
  writer.join()
}

/**
 * Writes a packed repeated int64 field (a tensor shape); nothing when empty, as proto3 leaves
 * empty repeated fields out. Throws a `RangeError` for a value that is not a safe integer,
 * which an int64 field cannot carry exactly.
 */
export const writePackedInt64 = (
  writer: ProtobufWriter.ProtobufWriter,
  field: number,
  values: ReadonlyArray<number>,
  what: string
): void => {
  if (values.length === 0) return
  for (const value of values) {
    if (!Number.isSafeInteger(value)) throw new RangeError(`${what}: shape dimension ${value} is not a safe integer`)
  }
  writer.tag(field, Len).fork()
  for (const value of values) writer.int64(value)
  writer.join()
}
