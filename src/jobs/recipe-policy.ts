/**
 * What a tenant may put in a job's recipe through the `sous` extension. A recipe field that
 * names a file, a store, an environment variable or code runs with the server's rights: a
 * tenant could read the server's files (`data.train: /etc/passwd`), send a secret from its
 * environment to a host of theirs (`backend.apiKeyEnv`, `backend.baseUrl`), load another
 * tenant's weights (`model.from`), write with the server's credentials (`checkpoint.uri`,
 * `publish`), read a model directory of the server's or download a private repository with its
 * `HF_TOKEN` (`model.hf`) or run a module of the server's disk (`env.module`). Those fields are the
 * service's to set (the job's data, a fine-tuned model's checkpoint, the catalog's backend),
 * never the tenant's.
 */
import { ApiError, invalidRequest } from "./api-error.js"
import type { SousExtension } from "./job-request.js"

/**
 * Recipe paths only the service sets. `backend.kind` is one only when it asks for another
 * backend than the server's own local one (see {@link tenantRecipeRefusal}).
 */
const serverOnly: ReadonlyArray<string> = [
  "backend.kind",
  "backend.baseUrl",
  "backend.apiKeyEnv",
  "checkpoint.uri",
  "model.from",
  "model.hf",
  "tokenizer.path",
  "renderer.chatTemplate",
  "data.train",
  "data.eval",
  "publish",
  "teacher",
  "env.module",
  "stages"
]

const valueAt = (value: unknown, path: string): unknown =>
  path.split(".").reduce<unknown>((current, key) =>
    typeof current === "object" && current !== null && Object.hasOwn(current, key) ? (current as Record<string, unknown>)[key] : undefined, value)

/** Whether setting `path` reaches `guarded`: the field itself, a field inside it, or a section holding it. */
const reaches = (path: string, guarded: string): boolean =>
  path === guarded || path.startsWith(`${guarded}.`) || guarded.startsWith(`${path}.`)

/**
 * The refusal of a `sous` extension that sets a field only the service may set, naming the
 * field; undefined when it sets none.
 */
export const tenantRecipeRefusal = (extension: SousExtension | undefined): ApiError | undefined => {
  if (extension === undefined) return undefined
  const refuse = (param: string, field: string) =>
    invalidRequest(
      `${field} cannot be set through the job service: it would reach the server's files, credentials or code. ` +
        "The job's files are its data; the model's catalog entry sets its backend.",
      param,
      "forbidden_recipe_field"
    )
  // The local backend on another device (`backend.device: wasm`) stays the server's own.
  const inRecipe = serverOnly.find((path) => {
    const value = valueAt(extension.recipe, path)
    return value !== undefined && !(path === "backend.kind" && value === "local")
  })
  if (inRecipe !== undefined) return refuse(`sous.recipe.${inRecipe}`, inRecipe)
  for (const [index, set] of (extension.set ?? []).entries()) {
    const path = set.slice(0, Math.max(0, set.indexOf("="))).trim()
    const value = set.slice(set.indexOf("=") + 1).trim()
    const guarded = serverOnly.find((field) => reaches(path, field) && !(path === "backend.kind" && value === "local"))
    if (guarded !== undefined) return refuse(`sous.set[${index}]`, path === guarded ? guarded : `${path} (it holds ${guarded})`)
  }
  return undefined
}
