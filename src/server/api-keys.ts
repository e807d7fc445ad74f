import { readFileSync } from "node:fs"
import { Schema } from "effect"
import { messageOf } from "../ports/thrown-message.js"
import { formatSchemaProblems, schemaProblems } from "../ports/index.js"
import { keyDigest } from "./auth.js"

/** What one API key may hold at once. */
export interface KeyQuota {
  /** Training models (from `create_model` until unloaded or expired). */
  readonly maxModels: number
  /** Sampling sessions; beyond it the key's least recently used idle one is freed. */
  readonly maxSamplers: number
  /** Bytes of model memory (weights, gradients, optimizer state) over its models and samplers. */
  readonly memoryBytes: number
}

/** A client of the server: the name its key was given (in messages and file paths) and its quota. */
export interface Tenant {
  readonly name: string
  readonly quota: KeyQuota
}

const Positive = Schema.Int.check(Schema.isGreaterThan(0))

// A key's name is a directory name under the state directory: nothing that could leave it.
const namePattern = /^[A-Za-z0-9_-]{1,64}$/

/**
 * One key the server accepts: `key` in clear, or `sha256`, the hex SHA-256 digest of the key
 * (so the file need not hold the secret). `name` tells keys apart in messages and is the
 * directory their checkpoints live in; `quota` overrides the server's defaults.
 */
export const ApiKeyConfig = Schema.Struct({
  name: Schema.String.check(Schema.isPattern(namePattern, { expected: "1 to 64 letters, digits, _ or -" })),
  key: Schema.optionalKey(Schema.String.check(Schema.isMinLength(8, { expected: "a key of at least 8 characters" }))),
  sha256: Schema.optionalKey(Schema.String.check(Schema.isPattern(/^[0-9a-fA-F]{64}$/, { expected: "64 hex digits" }))),
  quota: Schema.optionalKey(Schema.Struct({
    maxModels: Schema.optionalKey(Positive),
    maxSamplers: Schema.optionalKey(Positive),
    memoryBytes: Schema.optionalKey(Positive)
  }))
})
export type ApiKeyConfig = typeof ApiKeyConfig.Type

/** A keys file: `{"keys": [{"name", "key" | "sha256", "quota"?: {"maxModels", "maxSamplers", "memoryBytes"}}]}`. */
export const KeysFile = Schema.Struct({ keys: Schema.Array(ApiKeyConfig).check(Schema.isMinLength(1)) })

/**
 * Reads a keys file (JSON). Errors name the file and the field, never a value: a value there
 * may be a key.
 */
export const readKeysFile = (file: string): ReadonlyArray<ApiKeyConfig> => {
  let json: unknown
  try {
    json = JSON.parse(readFileSync(file, "utf8"))
  } catch (error) {
    throw new Error(`${file}: ${messageOf(error)}`)
  }
  try {
    return Schema.decodeUnknownSync(KeysFile)(json, { errors: "all" }).keys
  } catch (error) {
    throw new Error(`${file}: ${Schema.isSchemaError(error) ? formatSchemaProblems(schemaProblems(error, undefined)) : messageOf(error)}`)
  }
}

/** A key as the server checks it: the digest it compares, and whose it is. */
export interface KnownKey {
  readonly digest: Buffer
  readonly tenant: Tenant
}

/**
 * The keys with their quotas filled in from `defaults`; throws, naming the entry, on a bad
 * name, one with both or neither of `key` and `sha256`, or a name (in any case) or key given twice.
 */
export const resolveKeys = (keys: ReadonlyArray<ApiKeyConfig>, defaults: KeyQuota): ReadonlyArray<KnownKey> => {
  const known: Array<KnownKey> = []
  keys.forEach((entry, index) => {
    if (!namePattern.test(entry.name)) throw new Error(`keys[${index}].name must be 1 to 64 letters, digits, _ or -`)
    const where = `keys[${index}] (${entry.name})`
    if ((entry.key === undefined) === (entry.sha256 === undefined)) throw new Error(`${where}: give either key or sha256`)
    if (entry.sha256 !== undefined && !/^[0-9a-fA-F]{64}$/.test(entry.sha256)) throw new Error(`${where}: sha256 must be 64 hex digits`)
    const digest = entry.key === undefined ? Buffer.from(entry.sha256!, "hex") : keyDigest(entry.key)
    // Names differing only in case would share a checkpoint directory on a case-insensitive
    // file system (macOS, Windows), so they count as the same name.
    const sameName = (other: KnownKey) => other.tenant.name.toLowerCase() === entry.name.toLowerCase()
    const holder = known.find((other) => sameName(other) || other.digest.equals(digest))
    if (holder !== undefined) {
      throw new Error(`${where}: ${sameName(holder) ? "the name (in any case)" : "the key"} is already given to ${holder.tenant.name}`)
    }
    known.push({ digest, tenant: { name: entry.name, quota: { ...defaults, ...entry.quota } } })
  })
  return known
}
