import type * as http from "node:http"
import { join } from "node:path"
import { Effect, Exit, Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { fakeS3Endpoint } from "../support/s3-server.js"
import { testDirectory } from "../support/temp-directory.js"
import { root, runCliAsync } from "./run-cli.js"

// An access key id shaped like AWS's (the S3 adapter masks that shape wherever it appears)
// and a secret that only the request signature ever used.
const accessKeyId = "AKIAVERBOSETEST12345"
const secretAccessKey = "verbose-test-secret-never-printed"

// An S3 endpoint that reads fine (no objects, an empty listing) and refuses every write,
// echoing the caller's key id in its message as a careless S3-compatible server might.
const refuseWrites: http.RequestListener = (request, response) => {
  request.resume()
  const xml = (status: number, body: string) => response.writeHead(status, { "content-type": "application/xml" }).end(body)
  if (request.method === "PUT") {
    return xml(403, `<Error><Code>AccessDenied</Code><Message>Access Denied for ${accessKeyId}</Message></Error>`)
  }
  if (request.url?.includes("list-type=2")) return xml(200, "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>")
  xml(404, "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>")
}

const scope = Effect.runSync(Scope.make())
let endpoint: string

beforeAll(async () => {
  endpoint = await Effect.runPromise(Scope.provide(fakeS3Endpoint(refuseWrites), scope))
})

afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

const runToRefusedStore = (extra: ReadonlyArray<string>) =>
  runCliAsync([
    "run", join(root, "examples/sft-arithmetic/recipe.yaml"), "--out", join(testDirectory("verbose"), "run"),
    "--set", "training.steps=2", "--set", "optimizer.warmupSteps=0", "--set", "eval.every=0",
    "--set", "model.width=32", "--set", "model.layers=1", "--set", "backend.device=wasm",
    "--set", "checkpoint.uri=s3://refused/runs/a", ...extra
  ], { AWS_ENDPOINT_URL_S3: endpoint, AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey })

/** A stack trace line, which users should only see with --verbose. */
const stackLine = /^\s+at .+:\d+:\d+\)?$/m

describe("a failing checkpoint write", () => {
  it("is one line without --verbose, and the chain down to the S3 client's error with it, never the credentials", async () => {
    const [plain, verbose] = await Promise.all([runToRefusedStore([]), runToRefusedStore(["--verbose"])])
    expect(plain.code).toBe(1)
    expect(verbose.code).toBe(1)

    const failure = plain.stderr.split("\n").filter((line) => line.startsWith("sous: "))
    expect(failure).toHaveLength(1)
    // The operation and key, the object's URI, and S3's answer.
    expect(failure[0]).toMatch(/^sous: put (final\/state-\S+): put s3:\/\/refused\/runs\/a\/\1 failed: AccessDenied \(HTTP 403\): Access Denied for \[redacted\]$/)
    expect(plain.stderr).not.toMatch(stackLine)

    expect(verbose.stderr).toContain("BlobStoreError")
    expect(verbose.stderr).toMatch(/\[cause\]: AccessDenied: Access Denied for \[redacted\]/)
    expect(verbose.stderr).toMatch(stackLine)

    for (const stderr of [plain.stderr, verbose.stderr]) {
      expect(stderr).not.toContain(accessKeyId)
      expect(stderr).not.toContain(secretAccessKey)
    }
  })
})
