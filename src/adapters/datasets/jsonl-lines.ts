import { Effect, Stream } from "effect"
import { DatasetRowError } from "../../ports/index.js"

/**
 * The longest dataset line read by default: 64 MiB. A row is a conversation or a feature
 * vector; a line far longer is a broken file (or no JSONL at all), and one near 512 MiB is
 * past the longest string JavaScript can hold.
 */
export const defaultMaxLineBytes = 64 * 1024 * 1024

const describeBytes = (bytes: number): string => {
  for (const [unit, size] of [["GiB", 2 ** 30], ["MiB", 2 ** 20], ["KiB", 2 ** 10]] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size} ${unit}`
  }
  return `${bytes} bytes`
}

/** The line being read: its bytes so far (pieces of chunks), their count and its 1-based number. */
interface Pending {
  readonly pieces: Array<Uint8Array>
  readonly length: number
  readonly line: number
}

const decoder = new TextDecoder()

/** A finished line's text; a `\r` before its `\n` is dropped (CRLF files). */
const text = (pieces: ReadonlyArray<Uint8Array>): string => {
  const whole = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces)
  const end = whole.length > 0 && whole[whole.length - 1] === 13 ? whole.length - 1 : whole.length
  return decoder.decode(whole.subarray(0, end))
}

/**
 * Splits a stream of bytes into the text of its lines, as a JSONL dataset is read wherever
 * it lives. Lines are cut on bytes (`\n`), so a character split between chunks stays whole,
 * and each line's bytes are counted as they come: a line longer than `maxLineBytes` fails the
 * stream with a {@link DatasetRowError} naming `uri` and the line as soon as it passes the
 * limit, before it is held whole (reading it whole is what ran out of string length).
 */
export const jsonlLines = <E, R>(
  uri: string,
  bytes: Stream.Stream<Uint8Array, E, R>,
  maxLineBytes: number = defaultMaxLineBytes
): Stream.Stream<string, E | DatasetRowError, R> =>
  bytes.pipe(
    Stream.mapAccumEffect(
      (): Pending => ({ pieces: [], length: 0, line: 1 }),
      (pending, chunk) => {
        const lines: Array<string> = []
        let { pieces, length, line } = pending
        let start = 0
        while (start <= chunk.length) {
          const newline = chunk.indexOf(10, start)
          const end = newline === -1 ? chunk.length : newline
          length += end - start
          if (length > maxLineBytes) {
            return Effect.fail(new DatasetRowError({ uri, line, message: `the line is longer than ${describeBytes(maxLineBytes)}, the most a dataset line may hold` }))
          }
          if (end > start) pieces.push(chunk.subarray(start, end))
          if (newline === -1) break
          lines.push(text(pieces))
          pieces = []
          length = 0
          line += 1
          start = newline + 1
        }
        return Effect.succeed([{ pieces, length, line }, lines] as const)
      },
      // The last line needs no newline after it.
      { onHalt: (pending) => (pending.pieces.length > 0 ? [text(pending.pieces)] : []) }
    )
  )
