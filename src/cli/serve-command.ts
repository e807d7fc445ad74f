import { resolve } from "node:path"
import { Worker } from "node:worker_threads"
import { Effect } from "effect"
import { localBackendLayer } from "../adapters/local/local-backend.js"
import { messageOf } from "../ports/thrown-message.js"
import { BackendUnavailableError, type ModelArchitecture } from "../ports/index.js"
import { type ApiKeyConfig, type FaultOptions, readKeysFile, ServeError, startServer } from "../server/index.js"
import { type ParsedArgs, UsageError } from "./args.js"
import { readBaseModels } from "./base-models-file.js"
import { parseFaultSpec } from "./fault-spec.js"

const devices = ["auto", "gpu", "cpu", "wasm"] as const
type Device = typeof devices[number]

/** What `sous serve` was asked for, checked before anything starts. */
export interface ServeSettings {
  readonly host: string
  readonly port: number
  readonly stateDir: string
  readonly device: Device
  readonly apiKeyEnv: string
  /** The keys of `--keys FILE`, if given. */
  readonly keys: ReadonlyArray<ApiKeyConfig> | undefined
  readonly faults: FaultOptions | undefined
  readonly baseModels: Readonly<Record<string, ModelArchitecture>>
  readonly verbose: boolean
}

/** Reads `--keys`: a JSON keys file (see `readKeysFile`); its errors never show a key. */
const readKeys = (file: string | undefined): ReadonlyArray<ApiKeyConfig> | undefined => {
  if (file === undefined) return undefined
  try {
    return readKeysFile(file)
  } catch (error) {
    throw new UsageError({ message: `--keys ${messageOf(error)}`, cause: error })
  }
}

/** Reads `sous serve`'s flags, refusing what it cannot use with a usage error. */
export const serveSettings = (args: ParsedArgs): ServeSettings => {
  if (args.positionals.length > 0) throw new UsageError({ message: `sous serve takes no arguments, got ${args.positionals[0]}` })
  if (args.out !== undefined || args.sets.length > 0) throw new UsageError({ message: "sous serve takes no --out or --set" })
  const flags = args.serve
  const portText = flags["port"] ?? "8000"
  const port = Number(portText)
  if (!/^[0-9]+$/.test(portText) || port > 65535) throw new UsageError({ message: `--port must be an integer in [0, 65535], got ${portText}` })
  const device = flags["device"] ?? "auto"
  if (!(devices as ReadonlyArray<string>).includes(device)) throw new UsageError({ message: `--device must be one of ${devices.join(", ")}, got ${device}` })
  return {
    host: flags["host"] ?? "127.0.0.1",
    port,
    stateDir: resolve(flags["state-dir"] ?? "sous-serve"),
    device: device as Device,
    apiKeyEnv: flags["api-key-env"] ?? "SOUS_SERVE_API_KEY",
    keys: readKeys(flags["keys"]),
    faults: flags["faults"] === undefined ? undefined : parseFaultSpec(flags["faults"]),
    baseModels: readBaseModels(flags["base-models"]),
    verbose: args.verbose
  }
}

/** The server could not start because no API key was given; the message names the variable. */
const missingKey = (name: string) =>
  new UsageError({
    message: `sous serve needs an API key: set the environment variable ${name} (clients send it as X-API-Key), or give --keys FILE`
  })

/** What the server thread starts from: the checked settings and the key from the environment. */
export interface ServeStart extends ServeSettings {
  readonly apiKey: string | undefined
}

/** The message that tells the server thread to stop. */
export const stopMessage = "stop"

/**
 * How long `sous serve` waits, after SIGTERM or Ctrl-C, for its server to stop on its own
 * (requests cut, models freed) before it ends the server thread, even in the middle of a
 * TensorFlow.js call such as building a model.
 */
export const shutdownGraceMs = 3000

/** The server, in the current thread, until interrupted. */
export const serveInThisThread = (start: ServeStart): Effect.Effect<void, ServeError | BackendUnavailableError> =>
  Effect.gen(function*() {
    const server = yield* startServer({
      ...(start.apiKey === undefined ? {} : { apiKey: start.apiKey }),
      ...(start.keys === undefined ? {} : { keys: start.keys }),
      host: start.host,
      port: start.port,
      stateDir: start.stateDir,
      baseModels: start.baseModels,
      ...(start.faults === undefined ? {} : { faults: start.faults })
    })
    const faults = start.faults === undefined ? "" : " (injecting faults)"
    const keys = start.apiKey === undefined ? "the keys of --keys" : `the key in ${start.apiKeyEnv}`
    yield* Effect.sync(() =>
      process.stdout.write(
        `sous serve: listening on ${server.url}${faults}; clients send ${keys} as X-API-Key; saved weights in ${start.stateDir}\n`
      )
    )
    return yield* Effect.never
  }).pipe(Effect.scoped, Effect.provide(localBackendLayer({ device: start.device })))

/** The error a server thread reported, as the error it was. */
const reported = (message: { readonly _tag: string; readonly message: string }): ServeError | BackendUnavailableError =>
  message._tag === "BackendUnavailableError"
    ? new BackendUnavailableError({ backend: "local", message: message.message, cause: undefined })
    : new ServeError({ message: message.message })

/**
 * `sous serve`: the local backend over the Tinker protocol until interrupted (Ctrl-C,
 * SIGTERM). The key comes from the environment, never from the command line, where other
 * users of the machine could read it; more keys come from `--keys`. The server runs in a
 * worker thread, since TensorFlow.js blocks the thread it computes on: interrupted, this
 * thread asks it to stop and ends it after {@link shutdownGraceMs} if it has not.
 */
export const serve = (settings: ServeSettings): Effect.Effect<void, UsageError | ServeError | BackendUnavailableError> =>
  Effect.gen(function*() {
    const envKey = process.env[settings.apiKeyEnv] ?? ""
    if (envKey === "" && settings.keys === undefined) return yield* missingKey(settings.apiKeyEnv)
    const start: ServeStart = { ...settings, apiKey: envKey === "" ? undefined : envKey }
    const worker = new Worker(new URL("./serve-worker.js", import.meta.url), { workerData: start })
    const exited = Effect.callback<number>((resume) => {
      worker.once("exit", (code) => resume(Effect.succeed(code)))
    })
    const stop = Effect.gen(function*() {
      worker.postMessage(stopMessage)
      const stopped = yield* Effect.timeoutOption(exited, shutdownGraceMs)
      if (stopped._tag === "Some") return
      yield* Effect.logWarning(`sous serve: the server did not stop within ${shutdownGraceMs / 1000} s; ending it`)
      yield* Effect.promise(() => worker.terminate())
    })
    const failure = yield* Effect.callback<ServeError | BackendUnavailableError>((resume) => {
      worker.once("message", (message) => resume(Effect.succeed(reported(message))))
      worker.once("error", (error) => resume(Effect.succeed(new ServeError({ message: `the server thread failed: ${messageOf(error)}`, cause: error }))))
      // Not asked to stop (that interrupts this wait), so any exit is the server failing.
      worker.once("exit", (code) => resume(Effect.succeed(new ServeError({ message: `the server thread stopped unexpectedly (exit code ${code})` }))))
    }).pipe(Effect.onInterrupt(() => stop))
    return yield* failure
  })
