import { Effect, Schema } from "effect"

/** A field with a default: absent keys decode to `value`. */
export const withDefault = <S extends Schema.Top>(schema: S, value: S["Encoded"]) =>
  schema.pipe(Schema.withDecodingDefaultKey(Effect.succeed(value)))

/** A finite number greater than zero. */
export const PositiveNumber = Schema.Finite.check(Schema.isGreaterThan(0, { expected: "a positive number" }))

/** An integer greater than zero. */
export const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0, { expected: "a positive integer" }))

/** An integer of zero or more. */
export const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0, { expected: "an integer >= 0" }))

/** A number within [0, 1]. */
export const Fraction = Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1 }, { expected: "a number between 0 and 1" }))

/** A number within [0, 1): an Adam moment decay. */
export const Decay = Schema.Finite.check(
  Schema.isGreaterThanOrEqualTo(0, { expected: "a number in [0, 1)" }),
  Schema.isLessThan(1, { expected: "a number in [0, 1)" })
)

/**
 * The location of a file or store: a path (relative to the recipe) or a URI. An empty one
 * would resolve to the recipe's own directory, and fail far from its field.
 */
export const Location = Schema.String.check(Schema.isPattern(/\S/u, { expected: "a non-empty path" }))
