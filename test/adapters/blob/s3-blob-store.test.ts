import { HeadObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3"
import { assert, describe, it } from "@effect/vitest"
import { Effect, type Scope } from "effect"
import { afterAll } from "vitest"
import { makeS3BlobStore, s3BlobStoreLayer, type S3BlobStoreOptions } from "../../../src/adapters/blob/s3-blob-store.js"
import { BlobStore } from "../../../src/ports/index.js"
import { fakeS3Endpoint, startS3Server } from "../../support/s3-server.js"
import { blobStoreContract } from "./blob-store-contract.js"

const server = await startS3Server()
afterAll(() => server.stop())

const text = (value: string): Uint8Array => new TextEncoder().encode(value)

const connection = { endpoint: server.endpoint, region: server.region, credentials: server.credentials }

const freshBucket = Effect.promise(() => server.createBucket())

// A store under a prefix of a fresh bucket.
const storeOnFreshBucket = Effect.flatMap(freshBucket, (bucket) => makeS3BlobStore({ ...connection, bucket, prefix: "runs/exp-1" }))

// A client of our own, to look at the bucket behind the store's back; closed with the scope.
const rawClient: Effect.Effect<S3Client, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => new S3Client({ ...connection, forcePathStyle: true })),
  (client) => Effect.sync(() => client.destroy())
)

/**
 * A client whose requests a test can watch or fail: `intercept` sees each command's name
 * and input before it is sent, and may throw in place of S3.
 */
const interceptedClient = (intercept: (command: string, input: Record<string, unknown>) => void) =>
  Effect.map(rawClient, (client) => {
    client.middlewareStack.add(
      (next, context) => (args) => {
        intercept(context.commandName ?? "", args.input as Record<string, unknown>)
        return next(args)
      },
      { step: "initialize", name: "sousTestIntercept" }
    )
    return client
  })

// What the SDK throws for an S3 error answer, made up for tests that need an answer s3rver never gives.
const s3Error = (code: string, status: number): Error =>
  Object.assign(new Error(`${code} from the test`), { name: code, $metadata: { httpStatusCode: status } })

blobStoreContract("S3BlobStore", storeOnFreshBucket)

describe("S3BlobStore", () => {
  it.effect("keeps blobs under the prefix and names itself by its s3:// URI", () =>
    Effect.gen(function*() {
      const bucket = yield* freshBucket
      const store = yield* makeS3BlobStore({ ...connection, bucket, prefix: "runs/exp-1/" })
      assert.strictEqual(store.uri, `s3://${bucket}/runs/exp-1`)
      yield* store.put("ckpt/weights.bin", text("w"))
      const client = yield* rawClient
      const head = yield* Effect.promise(() => client.send(new HeadObjectCommand({ Bucket: bucket, Key: "runs/exp-1/ckpt/weights.bin" })))
      assert.strictEqual(head.ContentLength, 1)
      const whole = yield* makeS3BlobStore({ ...connection, bucket })
      assert.strictEqual(whole.uri, `s3://${bucket}`)
      assert.deepStrictEqual(yield* whole.list(""), ["runs/exp-1/ckpt/weights.bin"])
    }))

  it.effect("stores under neighbouring prefixes do not see each other", () =>
    Effect.gen(function*() {
      const bucket = yield* freshBucket
      const short = yield* makeS3BlobStore({ ...connection, bucket, prefix: "run" })
      const long = yield* makeS3BlobStore({ ...connection, bucket, prefix: "run-2" })
      yield* short.put("k", text("short"))
      yield* long.put("k", text("long"))
      assert.deepStrictEqual(yield* short.list(""), ["k"])
      assert.strictEqual(new TextDecoder().decode(yield* short.get("k")), "short")
      assert.strictEqual(new TextDecoder().decode(yield* long.get("k")), "long")
    }))

  it.effect("a blob above the part size goes up in parts and comes back exact", () =>
    Effect.gen(function*() {
      const bucket = yield* freshBucket
      const commands: Array<string> = []
      const client = yield* interceptedClient((command) => commands.push(command))
      const partSize = 5 * 1024 * 1024
      const store = yield* makeS3BlobStore({ client, bucket, partSize })
      const large = Uint8Array.from({ length: 2 * partSize + 12_345 }, (_, i) => (i * 7919 + (i >>> 13)) & 0xff)
      yield* store.put("big.bin", large)
      assert.deepStrictEqual(commands.filter((command) => command !== "PutObjectCommand").sort(), [
        "CompleteMultipartUploadCommand",
        "CreateMultipartUploadCommand",
        "UploadPartCommand",
        "UploadPartCommand",
        "UploadPartCommand"
      ])
      commands.length = 0
      // Exactly one part's worth is still a single PutObject.
      yield* store.put("small.bin", large.subarray(0, partSize))
      assert.deepStrictEqual(commands, ["PutObjectCommand"])
      const back = yield* store.get("big.bin")
      assert.strictEqual(back.length, large.length)
      assert.strictEqual(Buffer.compare(back, large), 0)
      assert.strictEqual(Buffer.compare(yield* store.get("small.bin"), large.subarray(0, partSize)), 0)
    }))

  it.effect("list follows continuation tokens across pages", () =>
    Effect.gen(function*() {
      const bucket = yield* freshBucket
      const pages: Array<string | undefined> = []
      const client = yield* interceptedClient((command, input) => {
        if (command === "ListObjectsV2Command") pages.push(input["ContinuationToken"] as string | undefined)
      })
      const store = yield* makeS3BlobStore({ client, bucket, prefix: "p", listPageSize: 2 })
      const keys = ["e", "a/2", "c", "a/1", "b", "d", "a/3"]
      yield* Effect.forEach(keys, (key) => store.put(key, text(key)), { concurrency: "unbounded" })
      assert.deepStrictEqual(yield* store.list(""), [...keys].sort())
      assert.strictEqual(pages.length, 4)
      assert.isUndefined(pages[0])
      assert.isTrue(pages.slice(1).every((token) => typeof token === "string" && token !== ""))
      assert.deepStrictEqual(yield* store.list("a/"), ["a/1", "a/2", "a/3"])
    }))

  it.effect("list leaves out objects whose names cannot be keys (folder markers, backslashes)", () =>
    Effect.gen(function*() {
      const bucket = yield* freshBucket
      const client = yield* rawClient
      for (const key of ["p/", "p/dir/", "p/dir\\file", "p/ok"]) {
        yield* Effect.promise(() => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: text("x") })))
      }
      const store = yield* makeS3BlobStore({ ...connection, bucket, prefix: "p" })
      assert.deepStrictEqual(yield* store.list(""), ["ok"])
    }))

  // Live clock: the store waits between tries, and the test clock would never move on.
  it.live("putIfAbsent tries again when S3 reports a conflicting conditional write", () =>
    Effect.gen(function*() {
      const bucket = yield* freshBucket
      let conflicts = 0
      let attempts = 0
      const client = yield* interceptedClient((command, input) => {
        if (command !== "PutObjectCommand" || input["IfNoneMatch"] !== "*") return
        attempts++
        if (conflicts > 0) {
          conflicts--
          throw s3Error("ConditionalRequestConflict", 409)
        }
      })
      const store = yield* makeS3BlobStore({ client, bucket })
      conflicts = 2
      assert.isTrue(yield* store.putIfAbsent("manifest.json", text("one")))
      assert.strictEqual(attempts, 3)
      // After the conflict clears, S3's real answer decides: the key is taken now.
      conflicts = 1
      assert.isFalse(yield* store.putIfAbsent("manifest.json", text("two")))
      assert.strictEqual(new TextDecoder().decode(yield* store.get("manifest.json")), "one")
    }))

  it.live("a conflict that never clears is a BlobStoreError, not a guess", () =>
    Effect.gen(function*() {
      const bucket = yield* freshBucket
      const client = yield* interceptedClient((command) => {
        if (command === "PutObjectCommand") throw s3Error("ConditionalRequestConflict", 409)
      })
      const store = yield* makeS3BlobStore({ client, bucket })
      const failure = yield* Effect.flip(store.putIfAbsent("manifest.json", text("one")))
      assert.strictEqual(failure._tag, "BlobStoreError")
      if (failure._tag === "BlobStoreError") {
        assert.strictEqual(failure.operation, "putIfAbsent")
        assert.include(failure.message, "ConditionalRequestConflict (HTTP 409)")
      }
    }))

  it.effect("a failure names the operation, the object's s3:// URI and S3's error code and status", () =>
    Effect.gen(function*() {
      const store = yield* makeS3BlobStore({ ...connection, bucket: "no-such-bucket", prefix: "runs" })
      const failure = yield* Effect.flip(store.get("ckpt/weights.bin"))
      assert.strictEqual(failure._tag, "BlobStoreError")
      if (failure._tag === "BlobStoreError") {
        assert.strictEqual(failure.operation, "get")
        assert.strictEqual(failure.key, "ckpt/weights.bin")
        assert.include(failure.message, "s3://no-such-bucket/runs/ckpt/weights.bin")
        assert.include(failure.message, "NoSuchBucket (HTTP 404")
      }
      const listing = yield* Effect.flip(store.list("ckpt/"))
      assert.include(listing.message, "list s3://no-such-bucket/runs/ckpt/ failed")
    }))

  describe("never puts credentials in an error", () => {
    const credentials = {
      accessKeyId: "AKIASOUSTESTKEY00001",
      secretAccessKey: "sous-test-secret-access-key/0123456789ab",
      sessionToken: "sous-test-session-token-0123456789"
    }
    const assertNoSecret = (message: string) => {
      for (const secret of Object.values(credentials)) assert.notInclude(message, secret)
    }

    it.effect("when S3 refuses the access key", () =>
      Effect.gen(function*() {
        const bucket = yield* freshBucket
        const store = yield* makeS3BlobStore({ ...connection, credentials, bucket })
        for (const failure of [yield* Effect.flip(store.put("k", text("x"))), yield* Effect.flip(store.list(""))]) {
          assert.strictEqual(failure._tag, "BlobStoreError")
          assert.include(failure.message, "InvalidAccessKeyId (HTTP 403")
          assert.include(failure.message, `s3://${bucket}/`)
          assertNoSecret(failure.message)
        }
      }))

    it.effect("when the endpoint cannot be reached", () =>
      Effect.gen(function*() {
        const store = yield* makeS3BlobStore({ endpoint: "http://127.0.0.1:9", region: "us-east-1", credentials, bucket: "bucket-b" })
        const failure = yield* Effect.flip(store.get("k"))
        assert.strictEqual(failure._tag, "BlobStoreError")
        assert.include(failure.message, "ECONNREFUSED")
        assertNoSecret(failure.message)
      }))

    it.effect("even when the server echoes the signed request headers back", () =>
      Effect.gen(function*() {
        // A misbehaving proxy that quotes the Authorization header (it names the access key
        // id) and the session token in its error message.
        const endpoint = yield* fakeS3Endpoint((request, response) => {
          request.resume()
          const quoted = `${request.headers.authorization} ${request.headers["x-amz-security-token"]}`
          response.writeHead(403, { "content-type": "application/xml" })
          response.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>${quoted}</Message></Error>`)
        })
        const store = yield* makeS3BlobStore({ endpoint, region: "us-east-1", credentials, bucket: "bucket-b" })
        const failure = yield* Effect.flip(store.get("k"))
        assert.include(failure.message, "AccessDenied (HTTP 403")
        assert.include(failure.message, "[redacted]")
        assertNoSecret(failure.message)
      }))
  })

  it.effect("finds the endpoint in AWS_ENDPOINT_URL_S3 and then talks path-style", () =>
    Effect.gen(function*() {
      const bucket = yield* freshBucket
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          process.env["AWS_ENDPOINT_URL_S3"] = server.endpoint
        }),
        () => Effect.sync(() => delete process.env["AWS_ENDPOINT_URL_S3"])
      )
      const store = yield* makeS3BlobStore({ region: server.region, credentials: server.credentials, bucket })
      yield* store.put("k", text("via the environment"))
      assert.strictEqual(new TextDecoder().decode(yield* store.get("k")), "via the environment")
    }))

  it.effect("refuses options S3 would refuse later, before any request", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [S3BlobStoreOptions, string]> = [
        [{ ...connection, bucket: "Not_A_Bucket" }, "not a valid S3 bucket name"],
        [{ ...connection, bucket: "bucket-b", prefix: "../up" }, "the prefix \"../up/\" is unsafe"],
        [{ ...connection, bucket: "bucket-b", prefix: "/abs" }, "absolute path"],
        [{ ...connection, bucket: "bucket-b", partSize: 1024 }, "partSize"],
        [{ ...connection, bucket: "bucket-b", listPageSize: 5000 }, "listPageSize"]
      ]
      for (const [options, problem] of cases) {
        const failure = yield* Effect.flip(makeS3BlobStore(options))
        assert.strictEqual(failure.operation, "open")
        assert.include(failure.message, problem)
      }
    }))

  it.effect("s3BlobStoreLayer provides the store", () =>
    Effect.gen(function*() {
      const bucket = yield* freshBucket
      const bytes = yield* Effect.gen(function*() {
        const store = yield* BlobStore
        yield* store.put("k", new Uint8Array([1, 2, 3]))
        return yield* store.get("k")
      }).pipe(Effect.provide(s3BlobStoreLayer({ ...connection, bucket })))
      assert.deepStrictEqual(bytes, new Uint8Array([1, 2, 3]))
    }))
})
