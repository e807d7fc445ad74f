import { assert, describe, it } from "@effect/vitest"
import { isSecretKey, redactSecrets } from "../../../src/adapters/logging/redact-secrets.js"

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
