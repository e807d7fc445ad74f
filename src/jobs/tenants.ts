/**
 * Tenants of the job service and their API keys. Every file, job and webhook event belongs to
 * one tenant; a request's `Authorization: Bearer <key>` says which. Keys are only ever held as
 * SHA-256 digests and compared in constant time, so neither a log nor a timing tells them.
 */
import { Effect, Schema } from "effect"
import { formatSchemaProblems, schemaProblems } from "../ports/index.js"
import { keyDigest, type KnownDigest, matchKey } from "../server/auth.js"
import { readJsonFile } from "./json-file.js"
import { isWebhookSecret } from "./webhooks/index.js"

/**
 * Where a tenant's webhook events go (the dispatcher's `WebhookEndpoint`): an http(s) URL
 * and a Standard Webhooks secret, checked as the dispatcher checks them, so a bad one stops
 * the server at start instead of sending every event to the dead-letter list.
 */
const TenantWebhook = Schema.Struct({
  url: Schema.String.check(Schema.makeFilter((url) => {
    try {
      const parsed = new URL(url)
      return (parsed.protocol === "http:" || parsed.protocol === "https:") && parsed.username === "" && parsed.password === "" ||
        "an http:// or https:// URL without credentials"
    } catch {
      return "an http:// or https:// URL"
    }
  })),
  secret: Schema.String.check(Schema.makeFilter((secret) => isWebhookSecret(secret) || "a secret of the form whsec_<base64>"))
})

/** One tenant: its id (in paths and model names), its API keys, and its webhook if any. */
export const TenantConfig = Schema.Struct({
  id: Schema.String.check(Schema.isPattern(/^[A-Za-z0-9_-]{1,64}$/, { expected: "1 to 64 letters, digits, _ or -" })),
  keys: Schema.Array(Schema.String.check(Schema.isMinLength(16, { expected: "a key of at least 16 characters" }))).check(
    Schema.isMinLength(1)
  ),
  webhook: Schema.optionalKey(TenantWebhook)
})
export type TenantConfig = typeof TenantConfig.Type

/** The tenants file: `{"tenants": [{"id", "keys": [...], "webhook"?: {"url", "secret"}}]}`. */
export const TenantsFile = Schema.Struct({ tenants: Schema.Array(TenantConfig).check(Schema.isMinLength(1)) })
export type TenantsFile = typeof TenantsFile.Type

/** The tenants file cannot be read or holds something else than tenants. */
export class TenantsFileError extends Schema.TaggedError<TenantsFileError>()("TenantsFileError", {
  path: Schema.String,
  message: Schema.String
}) {}

/** The tenants, looked up by key. */
export interface Tenants {
  /** The tenant a bearer key belongs to, if any. */
  readonly byKey: (key: string) => TenantConfig | undefined
  /** The tenant with this id, if any. */
  readonly byId: (id: string) => TenantConfig | undefined
  /** Every tenant. */
  readonly all: () => ReadonlyArray<TenantConfig>
}

/** Builds the lookup, refusing a key given to two tenants (or twice) and two tenants of one id. */
export const makeTenants = (file: TenantsFile, path = "the tenants"): Effect.Effect<Tenants, TenantsFileError> =>
  Effect.gen(function*() {
    const ids = new Set<string>()
    const keys: Array<KnownDigest<TenantConfig>> = []
    for (const tenant of file.tenants) {
      if (ids.has(tenant.id)) return yield* new TenantsFileError({ path, message: `tenant ${tenant.id} is listed twice` })
      ids.add(tenant.id)
      for (const key of tenant.keys) {
        const hashed = keyDigest(key)
        const holder = keys.find((entry) => entry.digest.equals(hashed))
        if (holder !== undefined) {
          return yield* new TenantsFileError({ path, message: `tenants ${holder.tenant.id} and ${tenant.id} share a key` })
        }
        keys.push({ digest: hashed, tenant })
      }
    }
    return {
      byKey: (key) => matchKey(keys, key),
      byId: (id) => file.tenants.find((tenant) => tenant.id === id),
      all: () => file.tenants
    }
  })

const decodeTenantsFile = Schema.decodeUnknownEffect(TenantsFile)

/** Reads and checks a tenants file (JSON); errors name the file and the field, never a key. */
export const loadTenants = (path: string): Effect.Effect<Tenants, TenantsFileError> =>
  Effect.gen(function*() {
    const json = yield* readJsonFile(path, (message) => new TenantsFileError({ path, message }))
    const file = yield* decodeTenantsFile(json, { errors: "all" }).pipe(
      // Problems without the values found: a value here may be a key or a secret.
      Effect.mapError((error) => new TenantsFileError({ path, message: `${path}: ${formatSchemaProblems(schemaProblems(error, undefined))}` }))
    )
    return yield* makeTenants(file, path)
  })
