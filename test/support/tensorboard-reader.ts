/**
 * An independent reader of TensorBoard event files for tests: protobufjs over the messages
 * declared below, and a bitwise CRC-32C. It shares nothing with the writer under test.
 */
import { readFileSync } from "node:fs"
import { assert } from "@effect/vitest"
import protobuf from "protobufjs"

// TensorBoard's Event and Summary messages, the fields a scalar needs, declared from
// tensorboard/compat/proto/event.proto and summary.proto: the reader shares nothing with the
// writer under test.
const { root } = protobuf.parse(`
  syntax = "proto3";
  message Event {
    double wall_time = 1;
    int64 step = 2;
    oneof what {
      string file_version = 3;
      bytes graph_def = 4;
      Summary summary = 5;
      SessionLog session_log = 7;
    }
  }
  message SessionLog {
    enum SessionStatus { STATUS_UNSPECIFIED = 0; START = 1; STOP = 2; CHECKPOINT = 3; }
    SessionStatus status = 1;
  }
  message Summary {
    message Value {
      string node_name = 7;
      string tag = 1;
      oneof value { float simple_value = 2; }
    }
    repeated Value value = 1;
  }
`)
const Event = root.lookupType("Event")

/** An event as protobufjs decodes it. */
export interface DecodedEvent {
  readonly wallTime: number
  readonly step?: number
  readonly fileVersion?: string
  readonly summary?: { readonly value: ReadonlyArray<{ readonly tag: string; readonly simpleValue: number }> }
  readonly sessionLog?: { readonly status: string }
}

// CRC-32C bit by bit, straight from the definition (reflected polynomial 0x82F63B78).
export const crc32c = (bytes: Uint8Array): number => {
  let crc = 0xffffffff
  for (const byte of bytes) {
    crc ^= byte
    for (let bit = 0; bit < 8; bit++) crc = (crc >>> 1) ^ (0x82f63b78 & -(crc & 1))
  }
  return (crc ^ 0xffffffff) >>> 0
}
const masked = (bytes: Uint8Array): number => {
  const crc = crc32c(bytes)
  return (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0
}

/** The events of a TFRecord file, each frame's two checksums verified. */
export const readEvents = (file: string): Array<DecodedEvent> => {
  const bytes = new Uint8Array(readFileSync(file))
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const events: Array<DecodedEvent> = []
  for (let offset = 0; offset < bytes.length;) {
    const length = Number(view.getBigUint64(offset, true))
    assert.strictEqual(view.getUint32(offset + 8, true), masked(bytes.subarray(offset, offset + 8)), `length CRC at ${offset}`)
    const data = bytes.subarray(offset + 12, offset + 12 + length)
    assert.strictEqual(view.getUint32(offset + 12 + length, true), masked(data), `data CRC at ${offset}`)
    events.push(Event.toObject(Event.decode(data), { longs: Number, enums: String }) as DecodedEvent)
    offset += 16 + length
  }
  return events
}
