/** The training backend a recipe names. */
import { Effect, Layer } from "effect"
import { localBackendLayer } from "../adapters/local/local-backend.js"
import { tinkerBackendLayer } from "../adapters/tinker/index.js"
import { BackendUnavailableError, type Tokenizer, TrainingBackend } from "../ports/index.js"
import type { BackendSection } from "../recipes/recipe-sections.js"

/** The process environment, or one given in its place. */
export type ProcessEnv = Readonly<Record<string, string | undefined>>

/** Why the backend `section` names cannot authenticate with `env`, or undefined when it can. */
export const missingApiKey = (section: BackendSection, env: ProcessEnv): string | undefined =>
  section.kind === "tinker" && (env[section.apiKeyEnv] ?? "").trim() === ""
    ? `the tinker backend needs an API key: set the environment variable ${section.apiKeyEnv}`
    : undefined

/**
 * The layer of the backend `section` names. The local one decodes samples with the recipe's
 * tokenizer (for stop strings); a remote service has its own. The API key of a remote one is
 * read from the environment variable the recipe names, so it never passes through the recipe.
 */
export const backendLayer = (
  section: BackendSection,
  tokenizer: Tokenizer["Service"],
  env: ProcessEnv = process.env
): Layer.Layer<TrainingBackend, BackendUnavailableError> => {
  if (section.kind === "local") return localBackendLayer({ device: section.device, threads: section.threads, decode: tokenizer.decode })
  const missing = missingApiKey(section, env)
  if (missing !== undefined) return Layer.effect(TrainingBackend, Effect.fail(new BackendUnavailableError({ backend: "tinker", message: missing })))
  // The adapter reads the key from the variable, so its messages name the one the recipe gave.
  return tinkerBackendLayer({ env, apiKeyEnv: section.apiKeyEnv, ...(section.baseUrl === undefined ? {} : { baseUrl: section.baseUrl }) })
}
