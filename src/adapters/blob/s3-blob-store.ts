import {
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client
} from "@aws-sdk/client-s3"
import { Upload } from "@aws-sdk/lib-storage"
import { Effect, Layer, Schedule } from "effect"
import { BlobNotFoundError, BlobStore, BlobStoreError, validateKey } from "../../ports/index.js"
import { checkBlobKey, checkBlobPrefix } from "./blob-key.js"
import { openS3Client, type S3Connection, s3ErrorCode, s3HttpStatus } from "./s3-client.js"
import { bucketNameProblem, formatS3Uri } from "./s3-uri.js"

/** Where an S3 blob store lives, how to reach it, and how it moves bytes. */
export type S3BlobStoreOptions = S3Connection & {
  readonly bucket: string
  /** The key prefix the store lives under (`runs/exp-1`); a trailing `/` is implied. Empty for the whole bucket. */
  readonly prefix?: string
  /**
   * Blobs larger than this go up as a multipart upload in parts of this size, several at
   * once; smaller ones as one PutObject. At least 5 MiB (S3's smallest part); default 8 MiB.
   */
  readonly partSize?: number
  /** Keys per ListObjectsV2 page, 1 to 1000 (the default, and S3's maximum). */
  readonly listPageSize?: number
}

const mebibyte = 1024 * 1024

const defaultPartSize = 8 * mebibyte

// S3 refuses multipart parts below 5 MiB (all but the last), and lists at most 1000 keys a page.
const minimumPartSize = 5 * mebibyte
const maximumListPageSize = 1000

// Parts of one multipart upload in flight at once.
const uploadConcurrency = 4

// S3 answers 409 ConditionalRequestConflict when another conditional write of the same key
// is in flight, and asks the caller to try again; the next try gets a definite answer.
const conflictRetry = {
  while: (error: unknown) => s3ErrorCode(error) === "ConditionalRequestConflict",
  times: 5,
  schedule: Schedule.exponential("50 millis")
}

// Runs one S3 call and keeps the SDK's error as it is, so each operation can tell an
// expected answer (404, 412) from a failure before it describes it.
const call = <A>(run: (abortSignal: AbortSignal) => Promise<A>): Effect.Effect<A, unknown> =>
  Effect.tryPromise({ try: run, catch: (error) => error })

// The object behind a key is absent. GetObject says NoSuchKey (and NoSuchBucket, a failure,
// for a missing bucket). A HEAD answer has no body, so S3 cannot say which is missing and
// the SDK names any 404 NotFound: `exists` in a missing bucket is false, as in the AWS CLI.
const isMissing = (error: unknown): boolean => {
  const code = s3ErrorCode(error)
  return code === "NoSuchKey" || code === "NotFound"
}

// The bytes of a GetObject answer, as a plain Uint8Array (the SDK hands out Buffers).
const readBody = async (response: GetObjectCommandOutput): Promise<Uint8Array> => {
  if (response.Body === undefined) return new Uint8Array(0)
  const bytes = await response.Body.transformToByteArray()
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

const prefixProblem = (prefix: string): string | undefined => {
  const unsafe = validateKey(prefix, { allowEmpty: true })
  return unsafe === undefined ? undefined : `the prefix ${JSON.stringify(prefix)} is unsafe: ${unsafe.reason}`
}

/** Checks the options that do not depend on S3 answering, and turns the prefix into a key prefix (`runs/`). */
const checkOptions = (options: S3BlobStoreOptions): Effect.Effect<string, BlobStoreError> => {
  const given = options.prefix ?? ""
  const prefix = given === "" || given.endsWith("/") ? given : `${given}/`
  const partSize = options.partSize ?? defaultPartSize
  const pageSize = options.listPageSize ?? maximumListPageSize
  const problem = bucketNameProblem(options.bucket) ??
    prefixProblem(prefix) ??
    (Number.isSafeInteger(partSize) && partSize >= minimumPartSize ? undefined : `partSize must be a whole number of bytes, at least ${minimumPartSize}`) ??
    (Number.isInteger(pageSize) && pageSize >= 1 && pageSize <= maximumListPageSize ? undefined : `listPageSize must be a whole number from 1 to ${maximumListPageSize}`)
  if (problem === undefined) return Effect.succeed(prefix)
  return Effect.fail(new BlobStoreError({ operation: "open", key: given, message: `cannot open ${formatS3Uri(options.bucket, given)}: ${problem}` }))
}

/**
 * A {@link BlobStore} on S3 (or an S3-compatible server) under `s3://bucket/prefix/`; key
 * `a/b` is the object `prefix/a/b`. `put` is atomic by S3's own rule, a new object appears
 * whole or not at all, multipart uploads included (a failed or interrupted one is aborted,
 * leaving no parts behind). `putIfAbsent` is a conditional PutObject (`If-None-Match: *`),
 * so S3 itself decides between racing writers. Objects under the prefix that could not be
 * keys here (folder markers ending in `/`, `a//b`) are not listed. A client built from the
 * options is closed when the scope closes. Failures are {@link BlobStoreError}s that name
 * the object's `s3://` URI and S3's error code and HTTP status, never the credentials; the
 * SDK's error is their `cause` (masked where it would show a secret).
 */
export const makeS3BlobStore = Effect.fn("S3BlobStore.make")(function*(options: S3BlobStoreOptions) {
  const prefix = yield* checkOptions(options)
  const { cause, client, describe } = yield* openS3Client(options)
  const bucket = options.bucket
  const partSize = options.partSize ?? defaultPartSize
  const pageSize = options.listPageSize ?? maximumListPageSize

  const failure = (operation: string, key: string) => (error: unknown) =>
    Effect.fail(
      new BlobStoreError({ operation, key, message: `${operation} ${formatS3Uri(bucket, prefix + key)} failed: ${describe(error)}`, cause: cause(error) })
    )

  const putObject = (key: string, bytes: Uint8Array, options: { readonly ifAbsent: boolean }) =>
    call((abortSignal) =>
      client.send(new PutObjectCommand({ Bucket: bucket, Key: prefix + key, Body: bytes, ...(options.ifAbsent ? { IfNoneMatch: "*" } : {}) }), { abortSignal })
    )

  const get = Effect.fn("S3BlobStore.get")(function*(key: string) {
    yield* checkBlobKey(key)
    return yield* call((abortSignal) => client.send(new GetObjectCommand({ Bucket: bucket, Key: prefix + key }), { abortSignal }).then(readBody)).pipe(
      Effect.catchIf(isMissing, () => Effect.fail(new BlobNotFoundError({ key })), failure("get", key))
    )
  })

  const put = Effect.fn("S3BlobStore.put")(function*(key: string, bytes: Uint8Array) {
    yield* checkBlobKey(key)
    const upload = bytes.byteLength <= partSize ? putObject(key, bytes, { ifAbsent: false }) : multipartUpload(client, bucket, prefix + key, bytes, partSize)
    yield* upload.pipe(Effect.catch(failure("put", key)))
  })

  const putIfAbsent = Effect.fn("S3BlobStore.putIfAbsent")(function*(key: string, bytes: Uint8Array) {
    yield* checkBlobKey(key)
    return yield* putObject(key, bytes, { ifAbsent: true }).pipe(
      Effect.as(true),
      Effect.retry(conflictRetry),
      Effect.catchIf((error) => s3HttpStatus(error) === 412, () => Effect.succeed(false), failure("putIfAbsent", key))
    )
  })

  const exists = Effect.fn("S3BlobStore.exists")(function*(key: string) {
    yield* checkBlobKey(key)
    return yield* call((abortSignal) => client.send(new HeadObjectCommand({ Bucket: bucket, Key: prefix + key }), { abortSignal })).pipe(
      Effect.as(true),
      Effect.catchIf(isMissing, () => Effect.succeed(false), failure("exists", key))
    )
  })

  const list = Effect.fn("S3BlobStore.list")(function*(keyPrefix: string) {
    yield* checkBlobPrefix(keyPrefix)
    const keys: Array<string> = []
    let continuationToken: string | undefined
    do {
      const page = yield* call((abortSignal) =>
        client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix + keyPrefix, MaxKeys: pageSize, ContinuationToken: continuationToken }),
          { abortSignal }
        )
      ).pipe(Effect.catch(failure("list", keyPrefix)))
      for (const object of page.Contents ?? []) {
        if (object.Key !== undefined) keys.push(object.Key.slice(prefix.length))
      }
      continuationToken = page.IsTruncated === true ? page.NextContinuationToken : undefined
    } while (continuationToken !== undefined)
    // A listed key must be one that `get` accepts; S3 compares UTF-8 bytes, JavaScript UTF-16 units.
    const usable = yield* Effect.filter(keys, (key) => Effect.isSuccess(checkBlobKey(key)))
    return usable.sort()
  })

  const remove = Effect.fn("S3BlobStore.delete")(function*(key: string) {
    yield* checkBlobKey(key)
    // S3 answers a delete of a missing object with success, as the port wants.
    yield* call((abortSignal) => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: prefix + key }), { abortSignal })).pipe(
      Effect.catch(failure("delete", key))
    )
  })

  const uri = prefix === "" ? `s3://${bucket}` : formatS3Uri(bucket, prefix.slice(0, -1))
  return BlobStore.of({ uri, get, put, putIfAbsent, exists, list, delete: remove })
})

// A multipart upload; an interrupted one is aborted, which also removes its uploaded parts.
const multipartUpload = (client: S3Client, bucket: string, key: string, bytes: Uint8Array, partSize: number) =>
  call(async (abortSignal) => {
    const upload = new Upload({ client, params: { Bucket: bucket, Key: key, Body: bytes }, partSize, queueSize: uploadConcurrency })
    abortSignal.addEventListener("abort", () => void upload.abort(), { once: true })
    await upload.done()
  })

/** A layer with an S3 {@link BlobStore}; see {@link makeS3BlobStore}. */
export const s3BlobStoreLayer = (options: S3BlobStoreOptions): Layer.Layer<BlobStore, BlobStoreError> =>
  Layer.effect(BlobStore, makeS3BlobStore(options))
