import { Context, type Schema, type Stream } from "effect"
import type { DatasetError, DatasetRowError } from "./errors.js"

/** A decoded dataset row and where it came from. */
export interface DatasetRow<A> {
  /** 1-based line (or record) number in the source. */
  readonly line: number
  readonly value: A
}

/** Streams validated rows from a dataset URI. */
export class DatasetSource extends Context.Service<DatasetSource, {
  /**
   * Rows of `uri`, each decoded by `schema`; a row that fails is a {@link DatasetRowError}
   * naming the URI and line. `fromLine` skips the rows before it (a resume cursor).
   */
  readonly rows: <A, I>(
    uri: string,
    schema: Schema.Codec<A, I>,
    options?: { readonly fromLine?: number }
  ) => Stream.Stream<DatasetRow<A>, DatasetError | DatasetRowError>
}>()("sous/ports/DatasetSource") {}
