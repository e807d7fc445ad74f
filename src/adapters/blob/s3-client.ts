import { S3Client } from "@aws-sdk/client-s3"
import { Effect, Predicate, type Scope } from "effect"
import { messageOf } from "../../ports/thrown-message.js"
import { maskedCause, redactedValue } from "../logging/redact-secrets.js"

/** An explicit S3 key pair (with a session token for temporary credentials). */
export interface S3Credentials {
  readonly accessKeyId: string
  readonly secretAccessKey: string
  readonly sessionToken?: string
}

/**
 * How to build an S3 client. Whatever is left out comes from the AWS SDK's usual sources:
 * credentials from the default provider chain (environment, shared config and credentials
 * files, SSO, container and instance roles), the region from `AWS_REGION` or the profile,
 * and the endpoint from `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` (the SDK reads both).
 */
export interface S3ClientSettings {
  /** An S3-compatible server (`http://127.0.0.1:9000`) instead of AWS. */
  readonly endpoint?: string
  readonly region?: string
  readonly credentials?: S3Credentials
  /**
   * Path-style requests (`endpoint/bucket/key`) instead of virtual-hosted ones
   * (`bucket.endpoint/key`). Defaults to on when an endpoint is configured, here or in the
   * environment, because S3-compatible servers rarely resolve bucket subdomains; off for AWS.
   */
  readonly forcePathStyle?: boolean
}

type Never<T> = { readonly [K in keyof T]?: never }

/** Either a ready client, which the caller owns and configures, or settings to build one. */
export type S3Connection =
  | ({ readonly client: S3Client } & Never<S3ClientSettings>)
  | (S3ClientSettings & { readonly client?: never })

/** A client and the way to describe its failures without leaking its credentials. */
export interface S3Session {
  readonly client: S3Client
  /** One line on why an S3 call failed; see {@link describeS3Error}. */
  readonly describe: (error: unknown) => string
  /**
   * The SDK's error, to keep as a failure's `cause` (`--verbose` prints its message and
   * stack): the error itself, or a copy with the same name whose message and stack are
   * masked like `describe`'s line when they would show a secret.
   */
  readonly cause: (error: unknown) => unknown
}

const configuredEndpoint = (settings: S3ClientSettings): boolean =>
  settings.endpoint !== undefined || Boolean(process.env["AWS_ENDPOINT_URL_S3"] ?? process.env["AWS_ENDPOINT_URL"])

/**
 * A client for `connection`. A client built here is destroyed (its sockets closed) when the
 * scope closes; a given one is left to its owner.
 */
export const openS3Client = (connection: S3Connection): Effect.Effect<S3Session, never, Scope.Scope> => {
  if (connection.client !== undefined) {
    const cause = (error: unknown) => maskedCause(error, (text) => redact(text, []))
    return Effect.succeed({ client: connection.client, describe: describeS3Error, cause })
  }
  const { credentials, endpoint, region } = connection
  const secrets = credentials === undefined ? [] : [credentials.accessKeyId, credentials.secretAccessKey, credentials.sessionToken]
  return Effect.acquireRelease(
    Effect.sync(() =>
      new S3Client({
        ...(endpoint === undefined ? {} : { endpoint }),
        ...(region === undefined ? {} : { region }),
        ...(credentials === undefined ? {} : { credentials }),
        forcePathStyle: connection.forcePathStyle ?? configuredEndpoint(connection)
      })
    ),
    (client) => Effect.sync(() => client.destroy())
  ).pipe(Effect.map((client) => ({
    client,
    describe: (error: unknown) => redact(describeS3Error(error), secrets),
    cause: (error: unknown) => maskedCause(error, (text) => redact(text, secrets))
  })))
}

// Secrets shorter than this are not looked for: replacing every "a" would garble messages,
// and no real key is that short.
const minimumSecretLength = 4

// AWS access key ids (long-term AKIA..., temporary ASIA...), wherever they come from.
const accessKeyId = /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g

const redact = (text: string, secrets: ReadonlyArray<string | undefined>): string =>
  secrets.reduce<string>(
    (redacted, secret) => secret !== undefined && secret.length >= minimumSecretLength ? redacted.split(secret).join(redactedValue) : redacted,
    text
  ).replace(accessKeyId, redactedValue)

// The class name of a thrown error (`TimeoutError`); "Error" for anything else thrown.
const errorName = (error: unknown): string => {
  if (error instanceof Error) return error.name
  return "Error"
}

// A field of the SDK's `$metadata` on a failed call: S3's answer and the SDK's retries.
const metadataField = (error: unknown, field: string): unknown => {
  const metadata = Predicate.hasProperty(error, "$metadata") ? error.$metadata : undefined
  return Predicate.hasProperty(metadata, field) ? metadata[field] : undefined
}

/** The HTTP status S3 answered a failed call with, if it answered. */
export const s3HttpStatus = (error: unknown): number | undefined => {
  const status = metadataField(error, "httpStatusCode")
  return typeof status === "number" ? status : undefined
}

/** The S3 error code of a failed call (`NoSuchKey`, `PreconditionFailed`, `NotFound`), if S3 answered. */
export const s3ErrorCode = (error: unknown): string | undefined =>
  s3HttpStatus(error) !== undefined && Predicate.hasProperty(error, "name") ? String(error.name) : undefined

/**
 * One line on why an S3 call failed: the S3 error code, HTTP status and request id with
 * S3's message, or the network error and its code, and how many attempts the SDK made.
 * Only these fields are read, never the request (its headers carry the signature and any
 * session token) or the error's other fields (S3 echoes the access key id in some), and
 * anything shaped like an access key id is masked.
 */
const describeS3Error = (error: unknown): string => {
  const status = s3HttpStatus(error)
  const requestId = metadataField(error, "requestId")
  const attempts = metadataField(error, "attempts")
  const code = Predicate.hasProperty(error, "code") && typeof error.code === "string" ? error.code : undefined
  const name = s3ErrorCode(error) ?? code ?? errorName(error)
  const message = messageOf(error)
  const details = [
    status === undefined ? undefined : `HTTP ${status}`,
    typeof requestId === "string" ? `request id ${requestId}` : undefined,
    typeof attempts === "number" && attempts > 1 ? `after ${attempts} attempts` : undefined
  ].filter(Predicate.isNotUndefined)
  const line = `${name}${details.length === 0 ? "" : ` (${details.join(", ")})`}${message === "" ? "" : `: ${message}`}`
  return line.replace(accessKeyId, redactedValue)
}
