import { assert, describe, it } from "@effect/vitest"
import { isSecretKey, maskedCause, redactSecrets } from "../../../src/adapters/logging/redact-secrets.js"

describe("redactSecrets", () => {
  it("recognises secret-looking names in any case and spelling, but not token counts", () => {
    for (const key of ["apiKey", "API_KEY", "x-api-key", "token", "hfToken", "HF_TOKEN", "accessToken", "secret", "clientSecret",
      "password", "dbPassword", "authorization", "Authorization", "secretAccessKey", "private_key"]) {
      assert.isTrue(isSecretKey(key), key)
    }
    for (const key of ["tokens", "maxTokens", "tokenizer", "tokenizerId", "step", "loss", "secretary", "passwordHint"]) {
      assert.isFalse(isSecretKey(key), key)
    }
  })

  it("replaces secrets at any depth and leaves the input untouched", () => {
    const input = { user: "ada", auth: { token: "t", nested: [{ apiKey: "k", keep: 1 }] }, when: new Date(0) }
    const redacted = redactSecrets(input)
    assert.deepStrictEqual(redacted, {
      user: "ada",
      auth: { token: "[redacted]", nested: [{ apiKey: "[redacted]", keep: 1 }] },
      when: new Date(0)
    })
    assert.strictEqual(input.auth.token, "t")
  })

  it("survives cycles", () => {
    const cyclic: Record<string, unknown> = { password: "p" }
    cyclic["self"] = cyclic
    assert.deepStrictEqual(redactSecrets(cyclic), { password: "[redacted]", self: "[Circular]" })
  })
})

describe("maskedCause", () => {
  const mask = (text: string) => text.replaceAll("sk-123", "[redacted]")

  it("masks the message, stack and whole cause chain, and keeps no other field", () => {
    const inner = new Error("denied for sk-123")
    const outer = Object.assign(new Error("request failed", { cause: inner }), { request: { headers: { authorization: "sk-123" } } })
    const masked = maskedCause(outer, mask) as Error & { readonly request?: unknown }
    assert.notStrictEqual(masked, outer)
    assert.strictEqual(masked.message, "request failed")
    assert.isUndefined(masked.request)
    assert.strictEqual((masked.cause as Error).message, "denied for [redacted]")
    assert.notInclude(String((masked.cause as Error).stack), "sk-123")
  })

  it("turns a thrown non-error into its masked text, and stops on a cause that loops", () => {
    assert.strictEqual(maskedCause("token sk-123", mask), "token [redacted]")
    const looping: Error = new Error("loop sk-123")
    Object.assign(looping, { cause: looping })
    let depth = 0
    for (let at: unknown = maskedCause(looping, mask); at instanceof Error; at = at.cause) {
      assert.strictEqual(at.message, "loop [redacted]")
      depth++
    }
    assert.isAtMost(depth, 10)
  })
})
