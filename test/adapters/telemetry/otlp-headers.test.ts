import { describe, expect, it } from "vitest"
import { Result } from "effect"
import { parseOtlpHeaders } from "../../../src/adapters/telemetry/otlp-headers.js"

describe("parseOtlpHeaders", () => {
  it("reads key=value pairs, percent-decoded, names in lower case", () => {
    expect(parseOtlpHeaders(" Authorization = Bearer%20abc%3D%3D , x-tenant=acme,")).toEqual(
      Result.succeed({ authorization: "Bearer abc==", "x-tenant": "acme" })
    )
    expect(parseOtlpHeaders("")).toEqual(Result.succeed({}))
  })

  it("refuses a malformed list without quoting any value", () => {
    const problem = (text: string) => Result.match(parseOtlpHeaders(text), { onSuccess: () => "", onFailure: (p) => p })
    expect(problem("x-a=1,secret-token")).toBe("entry 2 is not of the form key=value")
    expect(problem("=secret")).toBe("entry 1 has no valid header name before its \"=\"")
    expect(problem("bad name=secret")).toBe("entry 1 has no valid header name before its \"=\"")
    expect(problem("x-key=secret%zz")).toBe("the value of header x-key is not valid percent-encoding")
    expect(problem("x-key=secret%0Aevil: 1")).toBe("the value of header x-key holds a control character")
  })
})
