import { Effect, Schema, Stream } from "effect"
import { messageOf } from "../../ports/thrown-message.js"
import { type DatasetRow, DatasetRowError, formatSchemaProblems, schemaProblems } from "../../ports/index.js"

/**
 * Decodes the lines of a JSONL dataset into rows, the same way for every place a dataset
 * can live. Blank lines are skipped but still counted, so `line` is the line number an
 * editor shows; a UTF-8 byte order mark before the first line is dropped; lines before
 * `fromLine` are skipped without being parsed. A line that is not JSON, or whose value
 * fails `schema` (all issues, with their paths), ends the stream with a
 * {@link DatasetRowError} naming `uri` and the line. Decoding is lazy: a consumer that
 * stops early never reaches later lines.
 */
export const decodeJsonlLines = <A, I, E>(
  uri: string,
  schema: Schema.Codec<A, I>,
  lines: Stream.Stream<string, E>,
  fromLine = 1
): Stream.Stream<DatasetRow<A>, E | DatasetRowError> => {
  const decode = Schema.decodeUnknownEffect(schema)

  const parseRow = Effect.fnUntraced(function*(text: string, line: number): Effect.fn.Return<DatasetRow<A>, DatasetRowError> {
    const json = yield* Effect.try({
      try: (): unknown => JSON.parse(text),
      catch: (error) => new DatasetRowError({ uri, line, message: `not valid JSON: ${messageOf(error)}`, cause: error })
    })
    const value = yield* decode(json, { errors: "all" }).pipe(
      Effect.mapError((error) => new DatasetRowError({ uri, line, message: formatSchemaProblems(schemaProblems(error, json)) }))
    )
    return { line, value }
  })

  return lines.pipe(
    Stream.zipWithIndex,
    Stream.map(([text, index]) => ({ line: index + 1, text: index === 0 ? text.replace(/^\uFEFF/, "") : text })),
    Stream.filter(({ line, text }) => line >= fromLine && text.trim() !== ""),
    Stream.mapEffect(({ line, text }) => parseRow(text, line))
  )
}
