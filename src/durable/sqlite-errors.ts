import { Predicate } from "effect"
import { SqlError } from "effect/sql"
import { messageOf } from "../ports/thrown-message.js"

/**
 * What `node:sqlite` throws for a failed statement: an `Error` with `code: "ERR_SQLITE_ERROR"`
 * and SQLite's extended result code in `errcode` (2067 for a UNIQUE violation, 5 for BUSY).
 */
interface NodeSqliteError extends Error {
  readonly errcode: number
}

const isNodeSqliteError = (cause: unknown): cause is NodeSqliteError =>
  cause instanceof Error && Predicate.hasProperty(cause, "errcode") && typeof cause.errcode === "number"

/**
 * The error as a `SqlError` whose reason (unique violation, constraint, lock timeout, ...)
 * effect's own SQLite classifier picks, with the thrown error kept as the reason's cause.
 *
 * effect's classifier reads the result code from `errno`, the name better-sqlite3 and
 * other drivers use; `node:sqlite` calls it `errcode`. So the code is copied to `errno` on
 * the thrown error itself (it is new, and ours), rather than classifying a look-alike
 * object, which would hide the real error from whoever reads the cause.
 */
export const toSqlError = (cause: unknown, operation: string): SqlError.SqlError => {
  if (isNodeSqliteError(cause) && !("errno" in cause)) {
    Object.defineProperty(cause, "errno", { value: cause.errcode, enumerable: false })
  }
  return new SqlError.SqlError({
    reason: SqlError.classifySqliteError(cause, { message: `SQLite ${operation} failed: ${messageOf(cause)}`, operation })
  })
}
