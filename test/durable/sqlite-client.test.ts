import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Stream } from "effect"
import { SqlClient, SqlError } from "effect/sql"
import { sqliteClientLayer } from "../../src/durable/sqlite-client.js"
import { testDirectory } from "../support/temp-directory.js"

const inMemory = sqliteClientLayer({ filename: ":memory:" })

const withItems = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, qty INTEGER)`
  return sql
})

const names = (sql: SqlClient.SqlClient) =>
  Effect.map(sql<{ name: string }>`SELECT name FROM items ORDER BY id`, (rows) => rows.map((row) => row.name))

class Boom {
  readonly _tag = "Boom"
}

describe("sqliteClientLayer", () => {
  it.live("creates, reads, updates and deletes rows through sql statements", () =>
    Effect.gen(function*() {
      const sql = yield* withItems
      yield* sql`INSERT INTO items ${sql.insert([{ name: "flour", qty: 2 }, { name: "salt", qty: 1 }])}`
      const inserted = yield* sql`INSERT INTO items ${sql.insert({ name: "yeast", qty: 7 })} RETURNING id`
      assert.deepStrictEqual(inserted, [{ id: 3 }])
      yield* sql`UPDATE items SET ${sql.update({ qty: 5 })} WHERE name = ${"flour"}`
      yield* sql`DELETE FROM items WHERE name = ${"salt"}`
      assert.deepStrictEqual(yield* sql`SELECT id, name, qty FROM items ORDER BY id`, [
        { id: 1, name: "flour", qty: 5 },
        { id: 3, name: "yeast", qty: 7 }
      ])
      assert.deepStrictEqual(yield* sql`SELECT name FROM items WHERE ${sql.in("id", [1, 3])} ORDER BY id`.values, [
        ["flour"],
        ["yeast"]
      ])
      // A cached statement read as values still returns objects afterwards.
      assert.deepStrictEqual(yield* sql`SELECT name FROM items WHERE ${sql.in("id", [1, 3])} ORDER BY id`, [
        { name: "flour" },
        { name: "yeast" }
      ])
      assert.deepStrictEqual(yield* sql`UPDATE items SET qty = 0`.raw, { changes: 2, lastInsertRowid: 3 })
      assert.deepStrictEqual(yield* sql`SELECT count(*) AS n FROM items`.unprepared, [{ n: 2 }])
    }).pipe(Effect.provide(inMemory)))

  it.live("binds text, integer, real, blob and null, and reads them back as they went in", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE v (t TEXT, i INTEGER, r REAL, b BLOB, n TEXT)`
      const blob = new Uint8Array([0, 1, 254, 255])
      yield* sql`INSERT INTO v VALUES (${"héllo"}, ${42}, ${2.5}, ${blob}, ${null})`
      const [row] = yield* sql`SELECT t, i, r, b, n, typeof(t) AS tt, typeof(i) AS ti, typeof(r) AS tr, typeof(b) AS tb, typeof(n) AS tn FROM v`
      assert.deepStrictEqual(row, {
        t: "héllo", i: 42, r: 2.5, b: blob, n: null,
        tt: "text", ti: "integer", tr: "real", tb: "blob", tn: "null"
      })
      // Integers past 2^53 go in as bigint and come back exact when the caller asks for bigints.
      const big = 2n ** 62n + 1n
      const [exact] = yield* sql`SELECT ${big} AS v`.pipe(Effect.provideService(SqlClient.SafeIntegers, true))
      assert.strictEqual(exact!.v, big)
      // SQLite has no date or boolean: they bind as ISO text and 1/0; undefined binds as NULL.
      const when = new Date("2026-01-02T03:04:05.000Z")
      assert.deepStrictEqual(yield* sql`SELECT ${when} AS d, ${true} AS yes, ${false} AS no, ${undefined} AS u`, [
        { d: "2026-01-02T03:04:05.000Z", yes: 1, no: 0, u: null }
      ])
    }).pipe(Effect.provide(inMemory)))

  it.live("streams rows a page at a time and frees the connection when the stream is cut short", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const counting = sql<{ value: number }>`
        WITH RECURSIVE s(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM s WHERE value < 1000)
        SELECT value FROM s`
      const all = yield* Stream.runCollect(counting.stream)
      assert.strictEqual(all.length, 1000)
      assert.deepStrictEqual(all[999], { value: 1000 })
      assert.deepStrictEqual(yield* Stream.runCollect(counting.stream.pipe(Stream.take(3))), [
        { value: 1 },
        { value: 2 },
        { value: 3 }
      ])
      // The stream held the connection; a statement after it runs at once.
      yield* sql`CREATE TABLE after_stream (x)`
    }).pipe(Effect.provide(inMemory)))

  it.live("commits a transaction, and rolls back one that fails", () =>
    Effect.gen(function*() {
      const sql = yield* withItems
      yield* sql.withTransaction(Effect.andThen(sql`INSERT INTO items (name) VALUES ('kept')`, sql`INSERT INTO items (name) VALUES ('also kept')`))
      const failed = yield* sql`INSERT INTO items (name) VALUES ('lost')`.pipe(
        Effect.andThen(Effect.fail(new Boom())),
        sql.withTransaction,
        Effect.exit
      )
      assert.isTrue(Exit.isFailure(failed))
      assert.deepStrictEqual(yield* names(sql), ["kept", "also kept"])
    }).pipe(Effect.provide(inMemory)))

  it.live("nests transactions as savepoints: an inner failure keeps the outer work, an outer failure undoes all", () =>
    Effect.gen(function*() {
      const sql = yield* withItems
      yield* Effect.gen(function*() {
        yield* sql`INSERT INTO items (name) VALUES ('outer')`
        const inner = yield* sql`INSERT INTO items (name) VALUES ('inner lost')`.pipe(
          Effect.andThen(Effect.fail(new Boom())),
          sql.withTransaction,
          Effect.exit
        )
        assert.isTrue(Exit.isFailure(inner))
        yield* sql.withTransaction(sql`INSERT INTO items (name) VALUES ('inner kept')`)
      }).pipe(sql.withTransaction)
      assert.deepStrictEqual(yield* names(sql), ["outer", "inner kept"])

      const outer = yield* Effect.gen(function*() {
        yield* sql.withTransaction(sql`INSERT INTO items (name) VALUES ('committed savepoint')`)
        return yield* Effect.fail(new Boom())
      }).pipe(sql.withTransaction, Effect.exit)
      assert.isTrue(Exit.isFailure(outer))
      assert.deepStrictEqual(yield* names(sql), ["outer", "inner kept"])
      // No savepoint or transaction is left behind.
      assert.deepStrictEqual(yield* sql`SELECT 1 AS ok`, [{ ok: 1 }])
    }).pipe(Effect.provide(inMemory)))

  it.live("keeps other fibers' statements out of an open transaction", () =>
    Effect.gen(function*() {
      const sql = yield* withItems
      const transaction = yield* Effect.forkChild(
        Effect.gen(function*() {
          yield* sql`INSERT INTO items (name) VALUES ('rolled back')`
          yield* Effect.sleep("50 millis")
          return yield* Effect.fail(new Boom())
        }).pipe(sql.withTransaction)
      )
      yield* Effect.sleep("10 millis")
      // Were this to run on the connection mid-transaction, the rollback would take it too.
      yield* sql`INSERT INTO items (name) VALUES ('outside')`
      assert.isTrue(Exit.isFailure(yield* Fiber.await(transaction)))
      assert.deepStrictEqual(yield* names(sql), ["outside"])
    }).pipe(Effect.provide(inMemory)))

  it.live("a transaction that reads, then writes, is not failed by another process's write in between", () => {
    const filename = path.join(testDirectory("sqlite-client"), "shared.db")
    const ours = sqliteClientLayer({ filename })
    // Another process's connection: its write waits at most 100 ms for the lock.
    const theirs = sqliteClientLayer({ filename, busyTimeoutMillis: 100 })
    const other = Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      return yield* sql`INSERT INTO items (name) VALUES ('theirs')`
    }).pipe(Effect.provide(theirs))
    return Effect.gen(function*() {
      const sql = yield* withItems
      const transaction = yield* Effect.forkChild(
        Effect.gen(function*() {
          yield* names(sql)
          yield* Effect.sleep("50 millis")
          yield* sql`INSERT INTO items (name) VALUES ('ours')`
        }).pipe(sql.withTransaction)
      )
      yield* Effect.sleep("10 millis")
      // The transaction holds the write lock from its BEGIN: the other write waits, then
      // gives up, and the transaction commits. (Begun deferred, the other write would win and
      // the transaction's own write fail with "database is locked".)
      const theirWrite = yield* Effect.exit(other)
      assert.isTrue(Exit.isSuccess(yield* Fiber.await(transaction)))
      assert.isTrue(Exit.isFailure(theirWrite))
      assert.deepStrictEqual(yield* names(sql), ["ours"])
    }).pipe(Effect.provide(ours))
  })

  it.live("fails with a SqlError that classifies the failure and keeps node:sqlite's error as its cause", () =>
    Effect.gen(function*() {
      const sql = yield* withItems
      yield* sql`INSERT INTO items (name) VALUES ('twice')`
      const duplicate = yield* Effect.flip(sql`INSERT INTO items (name) VALUES ('twice')`)
      assert.isTrue(SqlError.isSqlError(duplicate))
      assert.strictEqual(duplicate.reason._tag, "UniqueViolation")
      const cause = duplicate.reason.cause as Error & { errcode: number }
      assert.instanceOf(cause, Error)
      assert.strictEqual(cause.errcode, 2067)
      assert.include(cause.message, "UNIQUE constraint failed: items.name")
      assert.include(duplicate.message, "UNIQUE constraint failed")

      const notNull = yield* Effect.flip(sql`INSERT INTO items (qty) VALUES (1)`)
      assert.strictEqual(notNull.reason._tag, "ConstraintError")

      const syntax = yield* Effect.flip(sql`SELEC nothing`)
      assert.isTrue(SqlError.isSqlError(syntax))
      assert.include((syntax.reason.cause as Error).message, "syntax error")

      const unbindable = yield* Effect.flip(sql`SELECT ${{ not: "a value" }} AS v`)
      assert.isTrue(SqlError.isSqlError(unbindable))
      assert.include((unbindable.reason.cause as Error).message, "cannot be bound")
    }).pipe(Effect.provide(inMemory)))

  it.live("keeps a file database across close and reopen, in WAL mode with a busy timeout", () => {
    const filename = path.join(testDirectory("sqlite-client"), "journal.db")
    const layer = sqliteClientLayer({ filename, busyTimeoutMillis: 1234 })
    return Effect.gen(function*() {
      yield* Effect.gen(function*() {
        const sql = yield* withItems
        yield* sql.withTransaction(sql`INSERT INTO items (name, qty) VALUES ('persisted', 3)`)
        assert.deepStrictEqual(yield* sql`PRAGMA journal_mode`, [{ journal_mode: "wal" }])
        assert.deepStrictEqual(yield* sql`PRAGMA busy_timeout`, [{ timeout: 1234 }])
      }).pipe(Effect.provide(layer))
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        assert.deepStrictEqual(yield* sql`SELECT name, qty FROM items`, [{ name: "persisted", qty: 3 }])
      }).pipe(Effect.provide(layer))
    })
  })

  it.live("fails to build with a SqlError when the file cannot be opened", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.provide(Effect.void, sqliteClientLayer({ filename: path.join(testDirectory("sqlite-client"), "missing", "x.db") }))
      )
      assert.isTrue(SqlError.isSqlError(error))
      assert.strictEqual(error.reason.operation, "open")
    }))
})
