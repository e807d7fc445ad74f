import { execFile as execFileCallback, execFileSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import * as fs from "node:fs/promises"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"

const execFile = promisify(execFileCallback)

/** A PostgreSQL server of the tests' own, on 127.0.0.1, user `postgres`, no password. */
export interface PostgresTestServer {
  readonly port: number
  /** Creates a database with a fresh name and answers its URL, so tests never share one. */
  readonly createDatabase: () => Promise<string>
  /** Stops the server at once (no checkpoint: nothing is kept) and removes its files. */
  readonly stop: () => Promise<void>
}

// Debian's packages put each major version's binaries here: /usr/lib/postgresql/<major>/bin.
const installRoot = "/usr/lib/postgresql"

/** The newest installed server's `bin` directory, or `undefined` when there is none. */
export const postgresBinDir = (): string | undefined => {
  if (!existsSync(installRoot)) return undefined
  const majors = readdirSync(installRoot)
    .filter((entry) => /^\d+$/.test(entry) && existsSync(path.join(installRoot, entry, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a))
  return majors.length === 0 ? undefined : path.join(installRoot, majors[0]!, "bin")
}

const isSet = (value: string | undefined) => value !== undefined && value !== "" && value !== "0" && value !== "false"

/**
 * Why the PostgreSQL tests cannot run here, or `undefined` when they can. On CI (or with
 * `SOUS_REQUIRE_POSTGRES=1`) a missing server throws instead, so the tests never pass there
 * by being skipped. Call it when a test file is collected, and skip its suite on a reason.
 */
export const postgresSkipReason = (): string | undefined => {
  if (postgresBinDir() !== undefined) return undefined
  const message = `PostgreSQL is required: apt-get install postgresql (no server under ${installRoot}/<version>/bin)`
  if (isSet(process.env.CI) || process.env.SOUS_REQUIRE_POSTGRES === "1") throw new Error(message)
  return `skipped: ${message}`
}

// initdb and the server refuse to run as root, so as root they run as the `postgres` user
// (made by Debian's package), in files that user owns.
const runsAsRoot = process.getuid?.() === 0

const command = (bin: string, program: string, args: ReadonlyArray<string>): [string, Array<string>] =>
  runsAsRoot ? ["runuser", ["-u", "postgres", "--", path.join(bin, program), ...args]] : [path.join(bin, program), [...args]]

const run = async (bin: string, program: string, args: ReadonlyArray<string>, cwd: string): Promise<void> => {
  const [file, argv] = command(bin, program, args)
  await execFile(file, argv, { cwd, timeout: 60_000 })
}

const postgresOwner = (): { readonly uid: number; readonly gid: number } => ({
  uid: Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim()),
  gid: Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim())
})

/**
 * A TCP port free on 127.0.0.1 right now, for a server of the tests (the database, a cluster
 * runner). Another process may still take it before the server binds it.
 */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

const tail = (file: string) => (existsSync(file) ? readFileSync(file, "utf8").slice(-4_000) : "(no server log)")

/**
 * Starts a fresh PostgreSQL cluster for tests: `initdb` into a new temp directory and
 * `pg_ctl start` on a free port of 127.0.0.1, its Unix socket in the same directory (the
 * default, /var/run/postgresql, may not exist or be writable). Durability is off (`fsync`):
 * the data lives only as long as the test. Stop it with {@link PostgresTestServer.stop}; a
 * test process that exits without doing so still stops it on the way out, unless killed.
 */
export const startPostgresServer = async (): Promise<PostgresTestServer> => {
  const bin = postgresBinDir()
  if (bin === undefined) throw new Error(postgresSkipReason() ?? "PostgreSQL is not installed")
  const directory = await fs.mkdtemp(path.join(os.tmpdir(), "sous-postgres-"))
  if (runsAsRoot) {
    const { gid, uid } = postgresOwner()
    await fs.chown(directory, uid, gid)
  }
  const dataDir = path.join(directory, "data")
  const logFile = path.join(directory, "server.log")
  let started = false
  const stopNow = () => {
    if (!started) return
    started = false
    const [file, argv] = command(bin, "pg_ctl", ["stop", "-D", dataDir, "-m", "immediate", "-s"])
    try {
      execFileSync(file, argv, { cwd: directory, stdio: "ignore", timeout: 30_000 })
    } catch {
      // Already gone: nothing to stop.
    }
  }
  process.once("exit", stopNow)
  const stop = async () => {
    process.removeListener("exit", stopNow)
    stopNow()
    await fs.rm(directory, { recursive: true, force: true, maxRetries: 3 })
  }
  try {
    await run(bin, "initdb", ["-D", dataDir, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-locale", "--no-sync"], directory)
    // Another process may take the free port before the server binds it: try a few.
    let port = 0
    for (let attempt = 1; !started; attempt++) {
      port = await freePort()
      const options = `-p ${port} -k ${directory} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`
      try {
        await run(bin, "pg_ctl", ["start", "-D", dataDir, "-l", logFile, "-w", "-t", "30", "-s", "-o", options], directory)
        started = true
      } catch (error) {
        if (attempt >= 3) throw new Error(`pg_ctl start failed: ${String(error)}\n${tail(logFile)}`)
      }
    }
    return {
      port,
      createDatabase: async () => {
        const name = `sous_${randomBytes(6).toString("hex")}`
        // Over TCP with trust authentication, any OS user may connect as `postgres`.
        await execFile(path.join(bin, "createdb"), ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", name])
        return `postgres://postgres@127.0.0.1:${port}/${name}`
      },
      stop
    }
  } catch (error) {
    await stop()
    throw error
  }
}
