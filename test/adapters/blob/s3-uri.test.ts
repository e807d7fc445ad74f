import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { bucketNameProblem, formatS3Uri, parseS3Uri } from "../../../src/adapters/blob/s3-uri.js"

describe("parseS3Uri", () => {
  it("reads the bucket and the key as written", () => {
    assert.deepStrictEqual(parseS3Uri("s3://my-bucket/runs/exp-1"), Result.succeed({ bucket: "my-bucket", key: "runs/exp-1" }))
    assert.deepStrictEqual(parseS3Uri("s3://my-bucket/data/train.jsonl"), Result.succeed({ bucket: "my-bucket", key: "data/train.jsonl" }))
    assert.deepStrictEqual(parseS3Uri("S3://my.bucket.1"), Result.succeed({ bucket: "my.bucket.1", key: "" }))
    assert.deepStrictEqual(parseS3Uri("s3://abc/"), Result.succeed({ bucket: "abc", key: "" }))
    // No percent-decoding: `%20` and `?` are part of the key, as in the AWS CLI.
    assert.deepStrictEqual(parseS3Uri("s3://abc/a%20b?c"), Result.succeed({ bucket: "abc", key: "a%20b?c" }))
  })

  it("says what is wrong with a URI it cannot read", () => {
    const problems: ReadonlyArray<readonly [string, string]> = [
      ["/local/path", "is not an s3:// URI"],
      ["file:///data.jsonl", "is not an s3:// URI"],
      ["s3:/bucket/key", "is not an s3:// URI"],
      ["s3://", "names no bucket"],
      ["s3:///key", "names no bucket"],
      ["s3://My_Bucket/key", "\"My_Bucket\" is not a valid S3 bucket name"],
      ["s3://ab/key", "\"ab\" is not a valid S3 bucket name"]
    ]
    for (const [uri, problem] of problems) {
      const parsed = parseS3Uri(uri)
      assert.isTrue(Result.isFailure(parsed), uri)
      if (Result.isFailure(parsed)) assert.include(parsed.failure, problem)
    }
  })

  it("checks bucket names by S3's rule", () => {
    for (const good of ["abc", "a-b.c", "0bucket9", "a".repeat(63)]) assert.isUndefined(bucketNameProblem(good), good)
    for (const bad of ["ab", "a".repeat(64), "-abc", "abc-", "a..b", "ABC", "a_b", "a b"]) assert.isDefined(bucketNameProblem(bad), bad)
  })

  it("formats an object's URI", () => {
    assert.strictEqual(formatS3Uri("bucket", "runs/a/weights.bin"), "s3://bucket/runs/a/weights.bin")
  })
})
