import { Result } from "effect"
import { uriScheme } from "../../ports/index.js"

/** A place in S3: a bucket and a key (or key prefix) inside it. */
export interface S3Location {
  readonly bucket: string
  /** Everything after `s3://bucket/`, as written; empty for the bucket itself. */
  readonly key: string
}

// S3's rule for bucket names: 3 to 63 lowercase letters, digits, '.' and '-', starting and
// ending with a letter or digit.
const bucketName = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/

/** Why `bucket` is not a name S3 accepts, or undefined when it is one. */
export const bucketNameProblem = (bucket: string): string | undefined =>
  bucketName.test(bucket) && !bucket.includes("..")
    ? undefined
    : `${JSON.stringify(bucket)} is not a valid S3 bucket name (3 to 63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit)`

/**
 * Reads `s3://bucket/key`. The key is taken as written, without percent-decoding, as the
 * AWS CLI does: S3 keys may hold `%`, `?` and `#`. Fails with a sentence saying what is
 * wrong, for the caller to wrap in its own error.
 */
export const parseS3Uri = (uri: string): Result.Result<S3Location, string> => {
  if (uriScheme(uri) !== "s3") return Result.fail(`${JSON.stringify(uri)} is not an s3:// URI (expected s3://bucket/key)`)
  const rest = uri.slice("s3://".length)
  const slash = rest.indexOf("/")
  const bucket = slash < 0 ? rest : rest.slice(0, slash)
  if (bucket === "") return Result.fail(`${JSON.stringify(uri)} names no bucket (expected s3://bucket/key)`)
  const problem = bucketNameProblem(bucket)
  if (problem !== undefined) return Result.fail(problem)
  return Result.succeed({ bucket, key: slash < 0 ? "" : rest.slice(slash + 1) })
}

/** The `s3://` URI of a key in a bucket, for messages. */
export const formatS3Uri = (bucket: string, key: string): string => `s3://${bucket}/${key}`
