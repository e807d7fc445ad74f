import { assert, describe, it } from "@effect/vitest"
import { type Decode, makeStopCheck, stopRule, type StopRule } from "../../../src/adapters/local/stop-sequences.js"
import { seededUniform } from "../../../src/adapters/local/token-sampler.js"
import { makeByteTokenizer } from "../../../src/adapters/tokenizers/byte-tokenizer.js"

const bytes = makeByteTokenizer()

const rule = (stop: string | ReadonlyArray<string> | ReadonlyArray<number>, decode: Decode = bytes.decode): StopRule => {
  const result = stopRule(stop, decode)
  if (typeof result === "string") throw new Error(result)
  return result
}

/** How many tokens of `tokens`, fed one by one, a continuation keeps under `stop`; `undefined` if none ends it. */
const stopLength = (stop: StopRule, tokens: ReadonlyArray<number>): number | undefined => {
  const check = makeStopCheck(stop)
  for (let i = 1; i <= tokens.length; i++) if (check(tokens.slice(0, i))) return i
  return undefined
}

/** The same, by decoding the whole continuation after every token: the definition. */
const referenceStopLength = (
  strings: ReadonlyArray<string>,
  decode: Decode,
  tokens: ReadonlyArray<number>
): number | undefined => {
  for (let i = 1; i <= tokens.length; i++) if (strings.some((s) => decode(tokens.slice(0, i)).includes(s))) return i
  return undefined
}

describe("stopRule", () => {
  it("reads a string, strings or token ids, and refuses what it cannot honour", () => {
    assert.deepStrictEqual(rule("ab"), { tokens: new Set<number>(), text: { strings: ["ab"], decode: bytes.decode } })
    assert.deepStrictEqual(rule([3, 4]), { tokens: new Set([3, 4]) })
    assert.deepStrictEqual(stopRule(undefined, undefined), { tokens: new Set<number>() })
    assert.deepStrictEqual(stopRule([7], undefined), { tokens: new Set([7]) })
    assert.include(stopRule(["\n"], undefined) as string, "give stop as token ids")
    assert.include(stopRule(["a", ""], bytes.decode) as string, "must not be empty")
  })
})

describe("makeStopCheck", () => {
  it("ends at the token that completes a stop string, which is kept", () => {
    const text = bytes.encode("héllo wörld, done")
    assert.strictEqual(stopLength(rule("lo w"), text), bytes.encode("héllo w").length)
    // "ö" is two bytes: the first one alone decodes to U+FFFD and must not end anything.
    assert.strictEqual(stopLength(rule(["ö", "zz"]), text), bytes.encode("héllo wö").length)
    assert.strictEqual(stopLength(rule(["zz"]), text), undefined)
    assert.strictEqual(stopLength(rule([bytes.encode(",")[0]!]), text), bytes.encode("héllo wörld,").length)
  })

  it("finds stop strings that span tokens of many characters and tokens that decode to nothing", () => {
    // Token 0 decodes to "" (as a skipped special token does); 1 is a long special token.
    const pieces = ["", "<|im_end|>", "a", "b", "\n"]
    const decode: Decode = (tokens) => tokens.map((t) => pieces[t]!).join("")
    const tokens = [2, 0, 0, 0, 3, 1, 2, 4, 4]
    assert.strictEqual(stopLength(rule("b<|im", decode), tokens), 6)
    assert.strictEqual(stopLength(rule("ab", decode), tokens), 5)
    assert.strictEqual(stopLength(rule("end|>a", decode), tokens), 7)
    assert.strictEqual(stopLength(rule(["\n\n", "x"], decode), tokens), 9)
    assert.strictEqual(stopLength(rule("x", decode), tokens), undefined)
  })

  it("keeps the space a SentencePiece-style decoder drops from the first token of a text", () => {
    const pieces = ["\u2581a", "\u2581b", "c"]
    const decode: Decode = (tokens) => tokens.map((t) => pieces[t]!).join("").replaceAll("\u2581", " ").replace(/^ /, "")
    assert.strictEqual(stopLength(rule(" b", decode), [0, 2, 1, 2]), 3)
    assert.strictEqual(stopLength(rule(" a", decode), [0, 2, 1, 2]), undefined)
  })

  it("agrees with decoding the whole continuation after every token", () => {
    // Random byte streams rich in multi-byte characters, stray continuation bytes and
    // special tokens, against stop strings cut from their own text (U+FFFD included).
    const uniform = seededUniform(5)
    const pick = <A>(items: ReadonlyArray<A>): A => items[Math.floor(uniform() * items.length)]!
    const alphabet = [...[..."ab é€😀"].map((char) => bytes.encode(char)), [0x80], [0xc3], [0xff], [256], [260]]
    for (let trial = 0; trial < 300; trial++) {
      const tokens = Array.from({ length: 12 }, () => pick(alphabet)).flat()
      const text = bytes.decode(tokens)
      const start = Math.floor(uniform() * text.length)
      const strings = [text.slice(start, start + 1 + Math.floor(uniform() * 4)), pick(["b", "zz", "\uFFFD", "é€"])]
      assert.strictEqual(
        stopLength(rule(strings), tokens),
        referenceStopLength(strings, bytes.decode, tokens),
        `${JSON.stringify(strings)} in ${JSON.stringify(tokens)}`
      )
    }
  })
})
