import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite"
import { Effect, Option, Stream } from "effect"
import { SqlClient, type SqlConnection, type SqlError } from "effect/sql"
import { toSqlError } from "./sqlite-errors.js"

type Row = Record<string, unknown>
type TransformRows = <A extends object>(rows: ReadonlyArray<A>) => ReadonlyArray<A>

// The cluster's storage sends the same few statements over and over (polls, lock refreshes),
// so they are prepared once. SQLite parses and plans a statement on each prepare.
const preparedCacheSize = 200
// Rows a stream reads per pull: each pull is one short synchronous step.
const streamPageSize = 256

/**
 * A parameter as `node:sqlite` can bind it. SQLite has no date or boolean type: a date becomes
 * ISO 8601 text (sortable, and what SQLite's date functions read) and a boolean 1 or 0.
 * `undefined` binds as NULL. Anything else goes through, and what `node:sqlite` refuses fails
 * the statement with a `SqlError`.
 */
const toSqliteValue = (value: unknown): SQLInputValue => {
  if (value === undefined) return null
  if (typeof value === "boolean") return value ? 1 : 0
  if (value instanceof Date) return value.toISOString()
  return value as SQLInputValue
}

// `node:sqlite` reads an object in first position as named parameters, so a stray object (or
// a Date left unconverted) would silently bind as nothing. An empty named set in front makes
// every value positional.
const noNamedParameters: Record<string, SQLInputValue> = {}
const bind = (params: ReadonlyArray<unknown>): Array<SQLInputValue> => params.map(toSqliteValue)

// `node:sqlite` returns rows with a null prototype. Other drivers return plain objects, and
// code reading rows expects them (strict equality, `Object.prototype` methods).
const plainRows = (rows: ReadonlyArray<Row>): ReadonlyArray<Row> => rows.map((row) => ({ ...row }))

const transformed = (rows: ReadonlyArray<Row>, transformRows: TransformRows | undefined): ReadonlyArray<any> =>
  transformRows === undefined ? rows : transformRows(rows)

/**
 * Runs one synchronous `node:sqlite` call as an effect. `SqlClient.SafeIntegers` is read per
 * call so a statement returns integers as `bigint` exactly when the caller asked for it.
 */
const attempt = <A>(operation: string, run: (readBigInts: boolean) => A): Effect.Effect<A, SqlError.SqlError> =>
  Effect.withFiber((fiber) => {
    try {
      return Effect.succeed(run(fiber.getRef(SqlClient.SafeIntegers)))
    } catch (cause) {
      return Effect.fail(toSqlError(cause, operation))
    }
  })

/** A bounded cache of prepared statements, dropping the least recently used. */
const makePreparedCache = (db: DatabaseSync) => {
  const statements = new Map<string, StatementSync>()
  return (sql: string): StatementSync => {
    const cached = statements.get(sql)
    if (cached !== undefined) {
      statements.delete(sql)
      statements.set(sql, cached)
      return cached
    }
    const statement = db.prepare(sql)
    statements.set(sql, statement)
    if (statements.size > preparedCacheSize) statements.delete(statements.keys().next().value!)
    return statement
  }
}

const allRows = (statement: StatementSync, params: ReadonlyArray<unknown>, readBigInts: boolean) => {
  statement.setReadBigInts(readBigInts)
  return plainRows(statement.all(noNamedParameters, ...bind(params)))
}

const allValues = (statement: StatementSync, params: ReadonlyArray<unknown>, readBigInts: boolean) => {
  statement.setReadBigInts(readBigInts)
  statement.setReturnArrays(true)
  try {
    return statement.all(noNamedParameters, ...bind(params)) as unknown as ReadonlyArray<ReadonlyArray<unknown>>
  } finally {
    // The statement may be cached and reused by `execute`, which wants objects.
    statement.setReturnArrays(false)
  }
}

/** Reads up to a page of rows from an open iterator; the next state is absent once it is done. */
const nextPage = (rows: Iterator<Row>): readonly [ReadonlyArray<Row>, Option.Option<Iterator<Row>>] => {
  const page: Array<Row> = []
  while (page.length < streamPageSize) {
    const next = rows.next()
    if (next.done === true) return [plainRows(page), Option.none()]
    page.push(next.value)
  }
  return [plainRows(page), Option.some(rows)]
}

/**
 * The `effect/sql` connection over one open `DatabaseSync`. Every method is one synchronous
 * call into SQLite, except a stream, which reads a page per pull. The `SqlClient` serializes
 * access: a stream holds the connection until it ends, so a statement run while consuming a
 * stream waits for it, forever if the same fiber consumes it, unless both run inside one
 * transaction (which lends them its connection).
 */
export const makeSqliteConnection = (db: DatabaseSync): SqlConnection.Connection => {
  const prepared = makePreparedCache(db)
  return {
    execute: (sql, params, transformRows) =>
      attempt("execute", (readBigInts) => transformed(allRows(prepared(sql), params, readBigInts), transformRows)),
    executeRaw: (sql, params) =>
      attempt("execute", (readBigInts) => {
        const statement = prepared(sql)
        if (statement.columns().length > 0) return allRows(statement, params, readBigInts)
        return statement.run(noNamedParameters, ...bind(params))
      }),
    executeValues: (sql, params) =>
      attempt("execute", (readBigInts) => allValues(prepared(sql), params, readBigInts)),
    executeValuesUnprepared: (sql, params) =>
      attempt("execute", (readBigInts) => allValues(db.prepare(sql), params, readBigInts)),
    executeUnprepared: (sql, params, transformRows) =>
      attempt("execute", (readBigInts) => transformed(allRows(db.prepare(sql), params, readBigInts), transformRows)),
    // A stream reads from its own statement, a page per pull, and resets it when the stream
    // ends or is interrupted, so no read stays open on the connection.
    executeStream: (sql, params, transformRows) =>
      Stream.unwrap(
        Effect.map(
          Effect.acquireRelease(
            attempt("execute", (readBigInts) => {
              const statement = db.prepare(sql)
              statement.setReadBigInts(readBigInts)
              return statement.iterate(noNamedParameters, ...bind(params)) as Iterator<Row>
            }),
            (rows) => Effect.sync(() => rows.return?.())
          ),
          (rows) =>
            Stream.paginate(rows, (current) =>
              attempt("execute", () => {
                const [page, next] = nextPage(current)
                return [transformed(page, transformRows), next] as const
              }))
        )
      )
  }
}
