import { type ChildProcess, spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as fs from "node:fs/promises"
import * as http from "node:http"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, type Scope } from "effect"

/** A running s3rver for tests; reach it with path-style requests, region `us-east-1`. */
export interface S3TestServer {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string
  readonly region: string
  /** The one key pair s3rver accepts. */
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string }
  /** Creates a bucket with a fresh name and answers the name, so tests never share one. */
  readonly createBucket: () => Promise<string>
  /** Stops the server and removes its files. */
  readonly stop: () => Promise<void>
}

// The flag that marks the child process; the same file is the child's program.
const childFlag = "--sous-s3rver-child"

const startupTimeoutMs = 20_000

/**
 * Starts s3rver on 127.0.0.1 on a free port, storing objects in a fresh temp directory.
 * It runs in a child process because s3rver encrypts list continuation tokens with DES,
 * which Node's OpenSSL 3 allows only with `--openssl-legacy-provider`, a flag we do not
 * want on the test process. The child exits when the test process goes away, even if
 * `stop` is never called. One server per test file is enough: each test takes its own
 * bucket from {@link S3TestServer.createBucket}.
 */
export const startS3Server = async (): Promise<S3TestServer> => {
  const directory = await fs.mkdtemp(path.join(os.tmpdir(), "sous-s3rver-"))
  const child = spawn(process.execPath, ["--openssl-legacy-provider", fileURLToPath(import.meta.url), childFlag, directory], {
    // The test runner's NODE_OPTIONS (loaders, inspectors) are not the server's business.
    env: { ...process.env, NODE_OPTIONS: "" },
    stdio: ["ignore", "ignore", "pipe", "ipc"]
  })
  let stderr = ""
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString("utf8")).slice(-4_000)
  })
  // A child that could not be spawned reports an error and never an exit.
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => resolve())
    child.once("error", () => resolve())
  })
  const stop = async (): Promise<void> => {
    child.kill()
    await exited
    await fs.rm(directory, { recursive: true, force: true })
  }
  let port: number
  try {
    port = await childPort(child, () => stderr)
  } catch (error) {
    await stop()
    throw error
  }
  const endpoint = `http://127.0.0.1:${port}`
  return {
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    createBucket: async () => {
      const bucket = `sous-${randomUUID()}`
      // s3rver serves unsigned requests as anonymous ones, so no SDK is needed here.
      const response = await fetch(`${endpoint}/${bucket}`, { method: "PUT" })
      if (!response.ok) throw new Error(`s3rver could not create bucket ${bucket}: HTTP ${response.status} ${await response.text()}`)
      return bucket
    },
    stop
  }
}

/**
 * A stand-in S3 endpoint on 127.0.0.1 that answers every request with `handler`, for what
 * s3rver never does (echo headers, hold a download open); answers its URL. Closed, open
 * connections included, when the scope closes.
 */
export const fakeS3Endpoint = (handler: http.RequestListener): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<http.Server>((resolve) => {
        const server = http.createServer(handler)
        server.listen(0, "127.0.0.1", () => resolve(server))
      })
    ),
    (server) =>
      Effect.promise(() =>
        new Promise<void>((resolve) => {
          server.closeAllConnections()
          server.close(() => resolve())
        })
      )
  ).pipe(Effect.map((server) => {
    const address = server.address()
    return `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`
  }))

// Waits for the child to report its port, or fails with what it printed.
const childPort = (child: ChildProcess, stderr: () => string): Promise<number> =>
  new Promise((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer)
      reject(new Error(`s3rver did not start: ${why}\n${stderr()}`))
    }
    const timer = setTimeout(() => fail(`no port after ${startupTimeoutMs} ms`), startupTimeoutMs)
    child.once("exit", (code, signal) => fail(`the process exited (code ${code}, signal ${signal})`))
    child.once("error", (error) => fail(error.message))
    child.once("message", (message: { readonly port?: unknown }) => {
      clearTimeout(timer)
      if (typeof message.port === "number") resolve(message.port)
      else fail(`unexpected message ${JSON.stringify(message)}`)
    })
  })

/**
 * The child's program: s3rver behind a plain HTTP server that adds what s3rver lacks, a
 * conditional PUT. s3rver ignores `If-None-Match: *`; here such a PUT answers 412 when the
 * object exists, as S3 does. Conditional PUTs of one key run one at a time, so the check
 * and the write cannot interleave with a rival writer's.
 */
const runChild = (directory: string): void => {
  // s3rver ships no types; it is only ever called here.
  const S3rver = createRequire(import.meta.url)("s3rver")
  const app = new S3rver({ directory, silent: true })
  const handle: http.RequestListener = app.callback()
  const queues = new Map<string, Promise<void>>()

  const conditionalPut = async (request: http.IncomingMessage, response: http.ServerResponse): Promise<void> => {
    // Path-style: /<bucket>/<key>, each segment percent-encoded.
    const [bucket = "", ...segments] = new URL(request.url ?? "/", "http://localhost").pathname.slice(1).split("/")
    const key = segments.map(decodeURIComponent).join("/")
    if (await app.store.existsObject(bucket, key)) {
      request.resume()
      response.writeHead(412, { "content-type": "application/xml" }).end(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>PreconditionFailed</Code>" +
          "<Message>At least one of the pre-conditions you specified did not hold</Message>" +
          "<Condition>If-None-Match</Condition></Error>"
      )
      return
    }
    const done = new Promise<void>((resolve) => response.once("close", () => resolve()))
    handle(request, response)
    await done
  }

  const server = http.createServer((request, response) => {
    if (request.method !== "PUT" || request.headers["if-none-match"] !== "*") return handle(request, response)
    const slot = request.url?.split("?")[0] ?? ""
    const turn = (queues.get(slot) ?? Promise.resolve()).then(() => conditionalPut(request, response)).catch((error: unknown) => {
      response.destroy(error instanceof Error ? error : new Error(String(error)))
    })
    queues.set(slot, turn)
    void turn.then(() => {
      if (queues.get(slot) === turn) queues.delete(slot)
    })
  })
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    process.send?.({ port: typeof address === "object" && address !== null ? address.port : undefined })
  })
  // The IPC channel closes when the test process exits or dies: never outlive it.
  process.once("disconnect", () => process.exit(0))
}

if (process.argv[2] === childFlag && process.argv[3] !== undefined) runChild(process.argv[3])
