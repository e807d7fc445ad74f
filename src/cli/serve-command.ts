import { readFileSync } from "node:fs"
import { resolve } from "node:path"
import { Effect, Schema } from "effect"
import { localBackendLayer } from "../adapters/local/local-backend.js"
import { messageOf } from "../ports/thrown-message.js"
import { type BackendUnavailableError, ModelArchitecture } from "../ports/index.js"
import { type FaultOptions, type ServeError, startServer } from "../server/index.js"
import { type ParsedArgs, UsageError } from "./args.js"
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
  readonly faults: FaultOptions | undefined
  readonly baseModels: Readonly<Record<string, ModelArchitecture>>
}

const BaseModels = Schema.Record(Schema.String, ModelArchitecture)

/** Reads `--base-models`: a JSON object from base model names to the architectures they build. */
const readBaseModels = (file: string | undefined): Readonly<Record<string, ModelArchitecture>> => {
  if (file === undefined) return {}
  let json: unknown
  try {
    json = JSON.parse(readFileSync(file, "utf8"))
  } catch (error) {
    throw new UsageError({ message: `--base-models ${file}: ${messageOf(error)}`, cause: error })
  }
  try {
    return Schema.decodeUnknownSync(BaseModels)(json)
  } catch (error) {
    throw new UsageError({ message: `--base-models ${file}: expected {"name": architecture, ...}: ${messageOf(error)}`, cause: error })
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
    faults: flags["faults"] === undefined ? undefined : parseFaultSpec(flags["faults"]),
    baseModels: readBaseModels(flags["base-models"])
  }
}

/** The server could not start because no API key was given; the message names the variable. */
const missingKey = (name: string) =>
  new UsageError({ message: `sous serve needs an API key: set the environment variable ${name} (clients send it as X-API-Key)` })

/**
 * `sous serve`: the local backend over the Tinker protocol until interrupted (Ctrl-C).
 * The key comes from the environment, never from the command line, where other users of
 * the machine could read it.
 */
export const serve = (settings: ServeSettings): Effect.Effect<void, UsageError | ServeError | BackendUnavailableError> =>
  Effect.gen(function*() {
    const apiKey = process.env[settings.apiKeyEnv] ?? ""
    if (apiKey === "") return yield* missingKey(settings.apiKeyEnv)
    const server = yield* startServer({
      apiKey,
      host: settings.host,
      port: settings.port,
      stateDir: settings.stateDir,
      baseModels: settings.baseModels,
      ...(settings.faults === undefined ? {} : { faults: settings.faults })
    })
    const faults = settings.faults === undefined ? "" : " (injecting faults)"
    yield* Effect.sync(() =>
      process.stdout.write(
        `sous serve: listening on ${server.url}${faults}; clients send the key in ${settings.apiKeyEnv} as X-API-Key; ` +
          `saved weights in ${settings.stateDir}\n`
      )
    )
    return yield* Effect.never
  }).pipe(Effect.scoped, Effect.provide(localBackendLayer({ device: settings.device })))
