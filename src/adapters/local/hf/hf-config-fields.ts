import { Result, Schema } from "effect"
import { formatSchemaProblems, schemaProblems } from "../../../ports/index.js"

/** A size in a config: a positive integer. */
export const Dim = Schema.Int.check(Schema.isGreaterThan(0))

/** A positive finite number (an epsilon, a rotary base, a scaling factor). */
export const Positive = Schema.Finite.check(Schema.isGreaterThan(0))

/** A config field that may be absent or JSON `null` (transformers writes both for "unset"). */
export const unset = <S extends Schema.Top>(schema: S) => Schema.optionalKey(Schema.NullOr(schema))

/** The decoded fields, or every problem as `path: message` with the value found there. */
export const decodeFields = <A, I>(schema: Schema.Codec<A, I>, config: unknown): Result.Result<A, ReadonlyArray<string>> =>
  Result.mapError(
    Schema.decodeUnknownResult(schema)(config, { errors: "all" }),
    (error) => schemaProblems(error, config).map((problem) => formatSchemaProblems([problem]))
  )

/** `name: value is not supported (why)`, the shape of every refusal of a setting. */
export const unsupported = (name: string, value: unknown, why: string): string =>
  `${name}: ${JSON.stringify(value)} is not supported (${why})`
