/**
 * sous's `effect/sql` client for SQLite, over Node's built-in `node:sqlite`.
 *
 * Why our own: effect 4.x has no `@effect/sql-sqlite-node` release, and a native addon such as
 * better-sqlite3 cannot be used (the machines build addons against Node 20; Node 24 refuses
 * them). `node:sqlite` ships with Node 24.
 *
 * `DatabaseSync` is synchronous: each statement blocks the event loop while SQLite runs it.
 * That is acceptable here because this database only holds the orchestrator's journal (the
 * cluster's messages, replies and shard locks): small indexed reads and writes that take
 * microseconds to a few milliseconds. Training never runs on this thread. The one long wait
 * is the busy timeout, when another process holds the write lock; it is kept well below the
 * cluster's shard-lock expiry (35 s), which a blocked event loop would otherwise miss.
 */
import { DatabaseSync } from "node:sqlite"
import { Effect, Layer, Semaphore, type Scope } from "effect"
import { Reactivity } from "effect/reactivity"
import { SqlClient, type SqlError, Statement } from "effect/sql"
import { makeSqliteConnection } from "./sqlite-connection.js"
import { toSqlError } from "./sqlite-errors.js"

/** Where the database lives and how long it waits for another process's lock. */
export interface SqliteClientOptions {
  /** Path of the database file (created if missing), or `":memory:"` for a private database. */
  readonly filename: string
  /**
   * How long a statement waits for a lock held by another process before it fails with a
   * `LockTimeoutError`, in milliseconds. Defaults to 5000. The wait blocks the event loop.
   */
  readonly busyTimeoutMillis?: number | undefined
}

const defaultBusyTimeoutMillis = 5_000

/**
 * Opens the file in WAL mode: readers (a status command in another process) do not block the
 * writer, and a commit appends to the log instead of rewriting pages. `synchronous` stays at
 * SQLite's default (FULL), so a journaled activity result survives a power cut, not only a
 * crash.
 */
const openDatabase = (options: SqliteClientOptions): DatabaseSync => {
  const db = new DatabaseSync(options.filename, { timeout: options.busyTimeoutMillis ?? defaultBusyTimeoutMillis })
  try {
    db.exec("PRAGMA journal_mode = WAL")
    return db
  } catch (cause) {
    db.close()
    throw cause
  }
}

/**
 * A `SqlClient` over one `node:sqlite` connection, open for the life of the scope.
 *
 * SQLite allows one writer, and a transaction belongs to the connection, so all work goes
 * through that one connection and a semaphore (effect's `makeSqliteAcquirers`): a transaction
 * holds it from `BEGIN` to `COMMIT`/`ROLLBACK`, a lone statement for its own length. Nested
 * transactions are savepoints, released once they end. The connection closes when the
 * scope does.
 *
 * Gotcha: a `.stream` holds the connection until it ends, so running another statement of
 * this client while consuming one deadlocks; read into an array first, or run both inside
 * one `withTransaction`.
 */
export const makeSqliteClient = (
  options: SqliteClientOptions
): Effect.Effect<SqlClient.SqlClient, SqlError.SqlError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const db = yield* Effect.acquireRelease(
      Effect.try({ try: () => openDatabase(options), catch: (cause) => toSqlError(cause, "open") }),
      (db) => Effect.sync(() => db.isOpen && db.close())
    )
    const connection = makeSqliteConnection(db)
    const acquirers = SqlClient.makeSqliteAcquirers({
      connection: Effect.succeed(connection),
      semaphore: yield* Semaphore.make(1),
      // Asked of SQLite itself, so cleanup after a failed COMMIT knows whether one is open.
      isTransaction: () => db.isTransaction
    })
    return yield* SqlClient.make({
      acquirer: acquirers.acquirer,
      borrower: acquirers.borrower,
      transactionAcquirer: acquirers.transactionAcquirer,
      onCommitFailure: acquirers.onCommitFailure,
      isTransaction: acquirers.isTransaction,
      compiler: Statement.makeCompilerSqlite(),
      // The name effect's (unreleased for 4.x) node:sqlite driver would report: code that asks
      // which driver it runs on gets the answer that matches this one's behaviour.
      driver: "sqlite-node",
      spanAttributes: [["db.system.name", "sqlite"]],
      // SQLite prepares BEGIN, COMMIT and SAVEPOINT like any statement; cached, they are not
      // parsed again on every transaction.
      prepareTransactionControls: true,
      // A transaction takes the write lock when it begins, waiting the busy timeout for it. A
      // deferred one (plain BEGIN) that reads and then writes fails at once with "database is
      // locked" when another process wrote in between: SQLite cannot upgrade its stale read,
      // and the busy timeout does not apply. (A worker died of this while `sous submit` ran.)
      beginTransaction: "BEGIN IMMEDIATE",
      releaseSavepoint: (name) => `RELEASE SAVEPOINT ${name}`
    })
  })

/**
 * {@link makeSqliteClient} as a layer providing effect's `SqlClient`: the database opens when
 * the layer is built and closes when it is released.
 */
export const sqliteClientLayer = (options: SqliteClientOptions): Layer.Layer<SqlClient.SqlClient, SqlError.SqlError> =>
  Layer.effect(SqlClient.SqlClient, makeSqliteClient(options)).pipe(Layer.provide(Reactivity.layer))
