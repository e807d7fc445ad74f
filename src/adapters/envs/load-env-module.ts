import { existsSync } from "node:fs"
import { pathToFileURL } from "node:url"
import { Effect, Schema } from "effect"
import { messageOf } from "../../ports/thrown-message.js"
import { type EnvFactory } from "../../ports/index.js"

/** An environment module that cannot be used; `field` is the recipe field at fault. */
export class EnvModuleError extends Schema.TaggedError<EnvModuleError>()("EnvModuleError", {
  field: Schema.Literals(["env.module", "env.export"]),
  message: Schema.String,
  /** What the import threw (a syntax error in the module, say), for `--verbose`. */
  cause: Schema.optional(Schema.Defect())
}) {}

/**
 * The environment factory a module exports: the module at `path` (a TypeScript or
 * JavaScript file; Node runs TypeScript directly by stripping its types) is imported and its
 * export `name` must be a function. A missing file, a module that fails to load, a missing
 * export or one that is not a function is an error naming the recipe field, so a recipe that
 * cannot run is refused before anything is written.
 */
export const loadEnvModule = (path: string, name: string): Effect.Effect<EnvFactory, EnvModuleError> =>
  Effect.gen(function*() {
    if (!existsSync(path)) return yield* new EnvModuleError({ field: "env.module", message: `no file at ${path}` })
    const module = yield* Effect.tryPromise({
      try: () => import(pathToFileURL(path).href) as Promise<Record<string, unknown>>,
      catch: (cause) =>
        new EnvModuleError({ field: "env.module", message: `${path} cannot be loaded: ${messageOf(cause)}`, cause })
    })
    const factory = module[name]
    if (factory === undefined) {
      const exports = Object.keys(module)
      return yield* new EnvModuleError({
        field: "env.export",
        message: `${path} has no export ${JSON.stringify(name)} (${exports.length === 0 ? "it exports nothing" : `it exports ${exports.join(", ")}`})`
      })
    }
    if (typeof factory !== "function") {
      return yield* new EnvModuleError({
        field: "env.export",
        message: `export ${JSON.stringify(name)} of ${path} is ${factory === null ? "null" : `a ${typeof factory}`}, not an environment factory (a function from a data row to an Env)`
      })
    }
    return factory as EnvFactory
  })
