import { assert, describe, it } from "@effect/vitest"
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import {
  decodeForwardBackwardOutput,
  decodeForwardBackwardRequest,
  decodeSampleResponse,
  encodeForwardBackwardOutput,
  encodeForwardBackwardRequest,
  encodeSampleResponse
} from "../../src/protocol/proto-messages.js"
import { type GoldenCase, outputCases, requestCases, sampleCases } from "./proto-golden-cases.js"

// The bytes the hand-written codec produced before the move to effect/protobuf: hex, or for
// a large message its length and SHA-256.
type Golden = string | { readonly bytes: number; readonly sha256: string }
const golden: Readonly<Record<string, Golden>> = JSON.parse(
  readFileSync(new URL("./fixtures/proto-golden.json", import.meta.url), "utf8")
)

const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex")

/** Checks that `encode` writes exactly the pinned bytes and that they decode to the expected value. */
const checkCases = <A>(
  cases: ReadonlyArray<GoldenCase<A>>,
  encode: (message: A) => Uint8Array,
  decode: (bytes: Uint8Array) => A
): void => {
  for (const { name, message, decoded } of cases) {
    it(name, () => {
      const expected = golden[name]
      assert.isDefined(expected, `no golden bytes for ${name}`)
      const bytes = encode(message)
      if (typeof expected === "string") {
        assert.strictEqual(toHex(bytes), expected)
      } else {
        assert.strictEqual(bytes.length, expected!.bytes)
        assert.strictEqual(createHash("sha256").update(bytes).digest("hex"), expected!.sha256)
      }
      const wire = typeof expected === "string" ? new Uint8Array(Buffer.from(expected, "hex")) : bytes
      assert.deepStrictEqual(decode(wire), decoded ?? message)
    })
  }
}

describe("protobuf bytes are unchanged from the pinned golden bytes", () => {
  it("pins every case, and nothing else", () => {
    const names = [...requestCases, ...outputCases, ...sampleCases].map((golden) => golden.name)
    assert.deepStrictEqual([...names].sort(), Object.keys(golden).sort())
  })
  describe("ForwardBackwardRequest", () => checkCases(requestCases, encodeForwardBackwardRequest, decodeForwardBackwardRequest))
  describe("ForwardBackwardOutput", () => checkCases(outputCases, encodeForwardBackwardOutput, decodeForwardBackwardOutput))
  describe("SampleResponse", () => checkCases(sampleCases, encodeSampleResponse, decodeSampleResponse))
})
