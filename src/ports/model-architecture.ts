import { Schema } from "effect"

/**
 * The shape of a model that a backend builds from scratch (the local backend does; remote
 * services load named base models and ignore it). A decoder-only transformer language model.
 */
export const TransformerArchitecture = Schema.Struct({
  kind: Schema.Literal("transformer"),
  vocabSize: Schema.Int.check(Schema.isGreaterThan(0)),
  contextLength: Schema.Int.check(Schema.isGreaterThan(0)),
  width: Schema.Int.check(Schema.isGreaterThan(0)),
  layers: Schema.Int.check(Schema.isGreaterThan(0)),
  heads: Schema.Int.check(Schema.isGreaterThan(0))
})
export type TransformerArchitecture = typeof TransformerArchitecture.Type

/** Every architecture a backend may be asked to build. */
export const ModelArchitecture = TransformerArchitecture
export type ModelArchitecture = typeof ModelArchitecture.Type
