import { ProtobufWriter } from "effect/protobuf"

/**
 * TensorBoard's `Event` message, the part of it sous writes (field numbers from
 * tensorboard/compat/proto/event.proto and summary.proto): `wall_time` (1, double), `step`
 * (2, int64), `file_version` (3, string), `summary` (5), whose `value` (1) entries hold a
 * `tag` (1, string) and a `simple_value` (2, float), the legacy scalar form TensorBoard's
 * scalars dashboard reads, and `session_log` (7), whose `status` (1) START is 1.
 */
const { I32, I64, Len, Varint } = ProtobufWriter.WireType

/** The version string every event file starts with. */
export const eventFileVersion = "brain.Event:2"

/** The first event of a file: its version and when it was written (seconds since the epoch). */
export const fileVersionEvent = (wallTime: number): Uint8Array =>
  ProtobufWriter.make().tag(1, I64).double(wallTime).tag(3, Len).string(eventFileVersion).finish()

/**
 * An event holding one scalar per entry of `values` at `step`. The values are stored as
 * 32-bit floats, as TensorBoard's scalars are.
 */
export const scalarsEvent = (wallTime: number, step: number, values: ReadonlyArray<readonly [string, number]>): Uint8Array => {
  const writer = ProtobufWriter.make().tag(1, I64).double(wallTime).tag(2, Varint).int64(step)
  writer.tag(5, Len).fork()
  for (const [tag, value] of values) {
    writer.tag(1, Len).fork().tag(1, Len).string(tag).tag(2, I32).float(value).join()
  }
  writer.join()
  return writer.finish()
}

/**
 * The event TensorFlow writes when a run restarts from a checkpoint: a `SessionLog` START at
 * `step`, the first step the restarted run logs. TensorBoard then drops the points the earlier
 * run wrote at that step and after, which the restarted run writes again.
 */
export const sessionStartEvent = (wallTime: number, step: number): Uint8Array =>
  ProtobufWriter.make().tag(1, I64).double(wallTime).tag(2, Varint).int64(step).tag(7, Len).fork().tag(1, Varint).int32(1).join().finish()
