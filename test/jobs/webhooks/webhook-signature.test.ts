import { createHmac } from "node:crypto"
import { assert, describe, it } from "vitest"
import {
  InvalidWebhookSecret,
  isWebhookSecret,
  newWebhookSecret,
  signWebhook,
  verifyWebhook
} from "../../../src/jobs/webhooks/index.js"

const secret = "whsec_" + Buffer.from("a key of exactly thirty-two byte").toString("base64")
const id = "evt_0123456789abcdef0123456789abcdef"
const timestamp = 1_780_000_000
const body = JSON.stringify({ object: "event", id, type: "fine_tuning.job.succeeded", created_at: timestamp, data: { id: "ftjob-abc" } })

const headers = (signature: string, at: number = timestamp) => ({
  "webhook-id": id,
  "webhook-timestamp": String(at),
  "webhook-signature": signature
})

describe("signWebhook / verifyWebhook", () => {
  it("signs v1,<base64 HMAC-SHA256 of id.timestamp.body> under the decoded key", () => {
    // Computed independently: the key is the base64-decoded part after whsec_.
    const key = Buffer.from(secret.slice("whsec_".length), "base64")
    const expected = "v1," + createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64")
    assert.strictEqual(signWebhook(secret, id, timestamp, body), expected)
  })

  it("matches the Standard Webhooks reference test vector", () => {
    const signature = signWebhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, "{\"test\": 2432232314}")
    assert.strictEqual(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
  })

  it("verifies a signed delivery and refuses a changed body, a wrong secret or a stale timestamp", () => {
    const signature = signWebhook(secret, id, timestamp, body)
    const now = { nowSeconds: timestamp + 10 }
    assert.isTrue(verifyWebhook(secret, headers(signature), body, now))
    // One byte changed anywhere in the body.
    const changed = body.replace("ftjob-abc", "ftjob-abd")
    assert.strictEqual(changed.length, body.length)
    assert.isFalse(verifyWebhook(secret, headers(signature), changed, now))
    assert.isFalse(verifyWebhook(newWebhookSecret(), headers(signature), body, now))
    // Another id or timestamp in the headers changes the signed content.
    assert.isFalse(verifyWebhook(secret, { ...headers(signature), "webhook-id": "evt_other" }, body, now))
    assert.isFalse(verifyWebhook(secret, headers(signature, timestamp + 1), body, { nowSeconds: timestamp }))
    // Tolerance: 300 s either way by default, or as asked.
    assert.isTrue(verifyWebhook(secret, headers(signature), body, { nowSeconds: timestamp + 300 }))
    assert.isFalse(verifyWebhook(secret, headers(signature), body, { nowSeconds: timestamp + 301 }))
    assert.isFalse(verifyWebhook(secret, headers(signature), body, { nowSeconds: timestamp - 301 }))
    assert.isTrue(verifyWebhook(secret, headers(signature), body, { nowSeconds: timestamp + 1000, toleranceSeconds: 1000 }))
    // The real clock is the default: a timestamp from 2026 is long stale by now... or not yet due.
    assert.isFalse(verifyWebhook(secret, headers(signature, 1), body))
  })

  it("accepts any one of several space-separated signatures, v1 only", () => {
    const signature = signWebhook(secret, id, timestamp, body)
    const other = signWebhook(newWebhookSecret(), id, timestamp, body)
    const now = { nowSeconds: timestamp }
    assert.isTrue(verifyWebhook(secret, headers(`${other} ${signature}`), body, now))
    assert.isTrue(verifyWebhook(secret, headers(`v1a,xyz ${signature} v1,not-base64!`), body, now))
    assert.isFalse(verifyWebhook(secret, headers(signature.replace("v1,", "v2,")), body, now))
    assert.isFalse(verifyWebhook(secret, headers(other), body, now))
    assert.isFalse(verifyWebhook(secret, headers(""), body, now))
  })

  it("refuses missing headers and a timestamp that is not a number", () => {
    const signature = signWebhook(secret, id, timestamp, body)
    const now = { nowSeconds: timestamp }
    const { "webhook-id": _, ...withoutId } = headers(signature)
    assert.isFalse(verifyWebhook(secret, withoutId, body, now))
    assert.isFalse(verifyWebhook(secret, { ...headers(signature), "webhook-timestamp": "17e8" }, body, now))
    // Header names are matched without regard to case (a Fetch Headers object copied as is).
    assert.isTrue(verifyWebhook(secret, { "Webhook-Id": id, "Webhook-Timestamp": String(timestamp), "Webhook-Signature": signature }, body, now))
  })

  it("refuses a secret that is not whsec_<base64>, without printing it", () => {
    for (const bad of ["plain-text-secret", "whsec_", "whsec_not*base64", "whsec_abc", "WHSEC_" + secret.slice(6)]) {
      assert.isFalse(isWebhookSecret(bad))
      let thrown: unknown
      try {
        signWebhook(bad, id, timestamp, body)
      } catch (error) {
        thrown = error
      }
      assert.instanceOf(thrown, InvalidWebhookSecret)
      assert.include((thrown as InvalidWebhookSecret).message, "whsec_")
      if (bad !== "whsec_") assert.notInclude((thrown as InvalidWebhookSecret).message, bad)
      assert.throws(() => verifyWebhook(bad, headers("v1,x"), body), /whsec_/)
    }
  })

  it("makes fresh whsec_ secrets of 32 random bytes", () => {
    const a = newWebhookSecret()
    const b = newWebhookSecret()
    assert.notStrictEqual(a, b)
    assert.isTrue(isWebhookSecret(a))
    assert.strictEqual(Buffer.from(a.slice("whsec_".length), "base64").length, 32)
    const signature = signWebhook(a, id, timestamp, body)
    assert.isTrue(verifyWebhook(a, headers(signature), body, { nowSeconds: timestamp }))
  })
})
