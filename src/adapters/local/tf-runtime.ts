import * as tf from "@tensorflow/tfjs"
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm"
import { Effect, Semaphore } from "effect"
import { createRequire } from "node:module"
import { dirname } from "node:path"
import { BackendUnavailableError } from "../../ports/index.js"
import { shareIdentityOnWasm } from "./wasm-shared-identity.js"

/**
 * Which TensorFlow.js backend to run. `auto` takes the fastest one installed
 * (tfjs-node-gpu, then tfjs-node, then wasm, then the plain JavaScript cpu backend);
 * the others force one: `gpu` is tfjs-node-gpu, `wasm` the WebAssembly backend, `cpu` the
 * plain JavaScript backend (slow, but the reference every machine has).
 */
export type LocalDevice = "auto" | "gpu" | "cpu" | "wasm"

/** The backend that runs, as chosen once per process. */
export interface TfRuntime {
  /** The tfjs backend name: `tensorflow` (tfjs-node / tfjs-node-gpu), `wasm` or `cpu`. */
  readonly backend: string
  /** A short human description, used as the `device` of clients and capabilities. */
  readonly device: string
  /** Why this backend was chosen. */
  readonly reason: string
}

const nodeGpuPackage = "@tensorflow/tfjs-node-gpu"
const nodePackage = "@tensorflow/tfjs-node"
const gpuDevice = "gpu (tfjs-node-gpu)"

/** Why an optional package did not load: absent, or present but broken (e.g. no CUDA). */
type OptionalLoad = { readonly loaded: true } | { readonly loaded: false; readonly why: string }

const require = createRequire(import.meta.url)

const isInstalled = (specifier: string): boolean => {
  try {
    require.resolve(specifier)
    return true
  } catch {
    return false
  }
}

const loadOptional = (specifier: string): Effect.Effect<OptionalLoad> =>
  isInstalled(specifier)
    ? Effect.promise(() =>
      // A variable specifier keeps TypeScript from resolving these optional peers.
      import(specifier).then(
        (): OptionalLoad => ({ loaded: true }),
        (error: unknown): OptionalLoad => ({ loaded: false, why: `failed to load: ${String(error)}` })
      )
    )
    : Effect.succeed({ loaded: false, why: "not installed" })

/** Starts tfjs-node(-gpu)'s "tensorflow" backend, or says why it cannot run. */
const useTensorflow = (packageName: string, device: string): Effect.Effect<TfRuntime | string> =>
  Effect.gen(function*() {
    const load = yield* loadOptional(packageName)
    if (!load.loaded) return `${packageName} ${load.why}`
    const ok = yield* Effect.promise(() => tf.setBackend("tensorflow"))
    return ok
      ? { backend: "tensorflow", device, reason: `${packageName} is installed` }
      : `${packageName} loaded but its "tensorflow" backend did not start`
  })

const processEvents = ["uncaughtException", "unhandledRejection"] as const

/**
 * Runs `effect` and then removes the `uncaughtException` / `unhandledRejection` listeners it
 * added. The wasm module's Emscripten glue installs listeners that only rethrow; left in
 * place they change how the host process reports its own crashes.
 */
const withoutNewProcessHandlers = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.suspend(() => {
    // Seen as a plain emitter: Process's typed overloads do not accept a union of event names.
    const emitter: NodeJS.EventEmitter = process
    const before = new Map(processEvents.map((event) => [event, new Set(emitter.listeners(event))]))
    return Effect.ensuring(
      effect,
      Effect.sync(() => {
        for (const event of processEvents) {
          for (const listener of emitter.listeners(event)) {
            if (before.get(event)!.has(listener)) continue
            emitter.removeListener(event, listener as (...args: Array<unknown>) => void)
          }
        }
      })
    )
  })

const useWasm: Effect.Effect<TfRuntime | undefined> = Effect.gen(function*() {
  // Point the backend at the binaries in node_modules so it never fetches anything.
  const wasmDir = dirname(require.resolve("@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm"))
  setWasmPaths(`${wasmDir}/`)
  const ok = yield* Effect.promise(() => tf.setBackend("wasm").catch(() => false)).pipe(withoutNewProcessHandlers)
  if (!ok) return undefined
  shareIdentityOnWasm()
  const simd = yield* Effect.promise(() => tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"))
  // tfjs only enables wasm threads in browsers (they crash under Node), so it is one thread.
  return { backend: "wasm", device: `wasm (${simd === true ? "SIMD" : "no SIMD"}, 1 thread)`, reason: "" }
})

const useCpu: Effect.Effect<TfRuntime> = Effect.promise(() => tf.setBackend("cpu")).pipe(
  Effect.as({ backend: "cpu", device: "cpu (JavaScript)", reason: "" })
)

const gpuInstallHint =
  `it needs a machine with CUDA; install it there with: npm install ${nodeGpuPackage}@${tf.version_core}`

const chooseBackend = Effect.fnUntraced(function*(requested: LocalDevice) {
  switch (requested) {
    case "gpu": {
      const runtime = yield* useTensorflow(nodeGpuPackage, gpuDevice)
      if (typeof runtime === "string") {
        return yield* new BackendUnavailableError({ backend: "gpu", message: `${runtime}; ${gpuInstallHint}` })
      }
      return { ...runtime, reason: "gpu was asked for" }
    }
    case "wasm": {
      const runtime = yield* useWasm
      if (runtime === undefined) {
        return yield* new BackendUnavailableError({ backend: "wasm", message: "the wasm backend did not start" })
      }
      return { ...runtime, reason: "wasm was asked for" }
    }
    case "cpu":
      return { ...(yield* useCpu), reason: "cpu was asked for" }
    case "auto": {
      const gpu = yield* useTensorflow(nodeGpuPackage, gpuDevice)
      if (typeof gpu !== "string") return gpu
      const native = yield* useTensorflow(nodePackage, "cpu (tfjs-node)")
      if (typeof native !== "string") return native
      const skipped = `${gpu}, ${native}`
      const wasm = yield* useWasm
      if (wasm !== undefined) return { ...wasm, reason: skipped }
      return { ...(yield* useCpu), reason: `${skipped}, and the wasm backend did not start` }
    }
  }
})

// The tfjs engine is a process-wide singleton, so the choice is made once and shared.
let current: { readonly requested: LocalDevice; readonly runtime: TfRuntime } | undefined
const initLock = Semaphore.makeUnsafe(1)

const matches = (requested: LocalDevice, runtime: TfRuntime): boolean => {
  switch (requested) {
    case "auto":
      return true
    case "gpu":
      return runtime.device === gpuDevice
    case "wasm":
      return runtime.backend === "wasm"
    case "cpu":
      return runtime.backend === "cpu"
  }
}

/**
 * Starts the TensorFlow.js backend for `requested`, once per process, and logs which one
 * runs and why. A later call for another concrete device fails: every tensor of the process
 * lives on the one global engine.
 */
export const initTfRuntime = (requested: LocalDevice): Effect.Effect<TfRuntime, BackendUnavailableError> =>
  Effect.gen(function*() {
    if (current !== undefined) {
      if (matches(requested, current.runtime)) return current.runtime
      return yield* new BackendUnavailableError({
        backend: requested,
        message: `cannot start "${requested}": TensorFlow.js already runs ${current.runtime.device} in this ` +
          `process (chosen for "${current.requested}"); its engine is global, so a process runs one backend`
      })
    }
    // Our own log line names the backend and the faster options, so the cpu backend's
    // console banner ("install tfjs-node") is silenced; PROD only gates tfjs's console output.
    tf.env().set("PROD", true)
    const runtime = yield* chooseBackend(requested)
    current = { requested, runtime }
    yield* Effect.logInfo(`sous local backend: TensorFlow.js ${tf.version_core} on ${runtime.device}: ${runtime.reason}`)
    return runtime
  }).pipe(initLock.withPermit)
